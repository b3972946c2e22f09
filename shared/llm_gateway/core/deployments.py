"""Model groups: the configured deployments, grouped by the ``name`` clients send."""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from llm_gateway.config import DeploymentConfig, Endpoint, GatewayConfig
from llm_gateway.errors import ModelNotFoundError
from llm_gateway.providers.base import Deployment
from llm_gateway.providers.registry import provider_class


def build_deployments(config: GatewayConfig) -> list[Deployment]:
    counts: dict[str, int] = {}
    deployments: list[Deployment] = []
    for entry in config.models:
        base = f"{entry.name}/{entry.provider}/{entry.model}"
        counts[base] = counts.get(base, 0) + 1
        deployment_id = entry.id or (base if counts[base] == 1 else f"{base}#{counts[base]}")
        deployments.append(
            Deployment(id=deployment_id, group=entry.name, provider=entry.provider, model=entry.model, config=entry)
        )
    return deployments


def validate_deployments(entries: Iterable[DeploymentConfig]) -> list[str]:
    """Problems with the providers' own fields, as messages (checked at start-up)."""
    problems = []
    for index, entry in enumerate(entries):
        try:
            provider = provider_class(entry.provider)
            provider.validate_deployment(entry)
        except ValueError as exc:
            problems.append(f"models[{index}] ({entry.name}): {exc}")
            continue
        if "embeddings" in entry.endpoints and not provider.serves_embeddings:
            problems.append(
                f"models[{index}] ({entry.name}): endpoints: the {entry.provider} provider does not serve embeddings"
            )
        for endpoint in entry.native:
            if endpoint not in provider.native_endpoints:
                problems.append(
                    f"models[{index}] ({entry.name}): native: the {entry.provider} provider cannot pass "
                    f"{endpoint} requests through"
                )
            elif endpoint not in entry.endpoints:
                problems.append(f"models[{index}] ({entry.name}): native: {endpoint} is not in its endpoints")
    return problems


class ModelGroups:
    def __init__(self, deployments: list[Deployment]) -> None:
        self._groups: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            self._groups.setdefault(deployment.group, []).append(deployment)

    def names(self) -> list[str]:
        return list(self._groups)

    def __contains__(self, name: object) -> bool:
        return name in self._groups

    def endpoints(self, name: str) -> list[Endpoint]:
        """The APIs some deployment of group ``name`` serves, in a fixed order (``[]``: no such group)."""
        served = {endpoint for deployment in self._groups.get(name, []) for endpoint in deployment.config.endpoints}
        return [endpoint for endpoint in get_args(Endpoint) if endpoint in served]

    def serving(self, name: str, endpoint: Endpoint) -> list[Deployment]:
        """The deployments of group ``name`` that serve ``endpoint`` (404 for an unknown group)."""
        return [deployment for deployment in self.get(name) if endpoint in deployment.config.endpoints]

    def get(self, name: str) -> list[Deployment]:
        try:
            return self._groups[name]
        except KeyError:
            raise ModelNotFoundError(
                f"The model '{name}' does not exist or you do not have access to it.", param="model"
            ) from None
