"""AWS Bedrock through the Converse API (any Bedrock chat model: Claude, Nova, Llama, Mistral, ...).

Modules: ``settings`` (config fields), ``messages`` and ``media`` (message/content mapping), ``request``
(parameters -> Converse arguments), ``response`` (ConverseResponse -> chat.completion), ``stream``
(ConverseStream events -> chunks, explicit state), ``errors`` (botocore -> OpenAI errors),
``transport`` (boto3 off the event loop), ``provider`` (the adapter).
"""

from llm_gateway.providers.bedrock.provider import BedrockProvider

__all__ = ["BedrockProvider"]
