"""Tenants: virtual API keys, rate limits, budgets, spend tracking and per-request telemetry.

Everything here is built lazily by :func:`llm_gateway.tenants.services.tenant_services` and plugged into
the pipeline as one layer (:mod:`llm_gateway.tenants.layer`) plus the authenticator
(:mod:`llm_gateway.tenants.authenticator`).
"""
