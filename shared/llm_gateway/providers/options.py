"""A deployment's provider-specific fields, checked at start-up by a pydantic model per provider.

Every provider describes the fields it reads as a :class:`ProviderOptions` subclass; anything else in
the ``models:`` entry stops start-up with a message naming it (a typo, or a field of another provider,
like ``api_base`` on a provider that has no base URL). Fields every deployment may carry, whatever its
provider, are on the base class.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_gateway.config import DeploymentConfig


class ProviderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # "yes" is not a boolean

    drop_params: bool = Field(
        default=False, description="Drop OpenAI parameters the provider cannot take instead of answering 400."
    )
    context_window: int | None = Field(default=None, gt=0, description="Tokens; the router's pre-check reads it.")


Options = TypeVar("Options", bound=ProviderOptions)


def read_options(
    model: type[Options], deployment: DeploymentConfig, provider: str, *, reads_api_base: bool = True
) -> Options:
    """``deployment``'s extra fields as ``model``; ``ValueError`` naming every field that is wrong."""
    if not reads_api_base and deployment.api_base is not None:
        raise ValueError(f"api_base: the {provider} provider has no base URL to set; remove it")
    try:
        return model.model_validate(deployment.extra_fields)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(entry)"
            if error["type"] == "extra_forbidden":
                problems.append(f"{where}: not a field of the {provider} provider")
            else:
                problems.append(f"{where}: {error['msg']}")
        raise ValueError("; ".join(problems)) from None
