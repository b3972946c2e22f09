"""The model config from an SSM parameter: ``LLM_GATEWAY_CONFIG=ssm:/llm-gateway/prod/config``.

Read once, when the gateway is built (at start-up under uvicorn, so a missing or invalid parameter stops
the function before it serves anything, with a message naming the parameter and the problem).
"""

from __future__ import annotations

from llm_gateway.aws.secrets import AwsClientFactory, read_ssm_parameter, ssm_provider
from llm_gateway.config import ConfigError, GatewayConfig, load_config_text
from llm_gateway.secrets import SecretError

SSM_PREFIX = "ssm:"


def is_ssm_source(source: str | None) -> bool:
    return bool(source) and str(source).startswith(SSM_PREFIX)


def load_ssm_config(source: str, clients: AwsClientFactory) -> GatewayConfig:
    name = source.removeprefix(SSM_PREFIX)
    try:
        text = read_ssm_parameter(ssm_provider(clients), name)
    except SecretError as exc:
        raise ConfigError(f"cannot load the config: {exc}") from None
    return load_config_text(text, source=f"config in SSM parameter {name}")
