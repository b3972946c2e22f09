"""Claude's signed thinking blocks, kept by the gateway across a tool loop: :mod:`.memory` puts them back,
:mod:`.store` keeps them. (Nothing is imported here, so ``providers.base`` may name the store's type.)"""
