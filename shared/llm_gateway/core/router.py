"""The router, the innermost pipeline handler. It lives in :mod:`llm_gateway.routing`; this name stays
for the code that imports it from here."""

from __future__ import annotations

from llm_gateway.routing.router import Router

__all__ = ["Router"]
