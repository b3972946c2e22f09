"""The gateway app with one library bypass put back on the library's own path, for ``bench/bypasses.py``.

    BENCH_VARIANT=NAME uvicorn bench.variants:app      (run from handlers/, as handlers/gateway.py is)

Each variant changes one thing before the app is built, and nothing else; an unknown name is an error.
Bypasses that have a setting of their own (the upstream transport) are measured through that setting
instead (see ``bench/bypasses.py``). The variants of bypasses that were measured and removed are in the
history of this file, next to their decision records (docs/decisions/).
"""

from __future__ import annotations

import os

from llm_gateway.api.app import create_app
from llm_gateway.aws.lambda_observability import LOG_LEVEL_ENV, instrument_app
from llm_gateway.observability import configure_logging

VARIANT = os.environ.get("BENCH_VARIANT", "")
VARIANTS = ("fastapi-routing",)

if VARIANT not in ("", *VARIANTS):
    raise SystemExit(f"unknown BENCH_VARIANT {VARIANT!r}; one of {', '.join(VARIANTS)}")

configure_logging(os.environ.get(LOG_LEVEL_ENV) or "INFO")
app = create_app(settle_heap=True, direct_routes=VARIANT != "fastapi-routing")
instrument_app(app, os.environ)
