"""Provider translation units behind one interface (:mod:`.base`), found by name in :mod:`.registry`."""
