"""Tenants: virtual API keys, rate limits, budgets and spend.

Built once by :func:`llm_gateway.tenants.services.build_tenant_services` and plugged in by the composition
root as the authenticator (:mod:`.authenticator`), the limits-and-spend layer (:mod:`.layer`) and the
model-group and deployment limits attempt layer (:mod:`.model_limits`).
"""
