"""botocore exceptions -> OpenAI-shaped gateway errors, without leaking credentials or account ids.

| Bedrock (``Error.Code``)                          | Client sees                                        |
|---------------------------------------------------|----------------------------------------------------|
| ThrottlingException                               | 429 rate_limit_exceeded (retryable)                |
| ServiceQuotaExceededException                     | 429 insufficient_quota (not retried)               |
| ServiceUnavailableException, ModelNotReadyException | 503 service_unavailable (retryable)              |
| ModelTimeoutException                             | 504 upstream_timeout (retryable)                   |
| ValidationException                               | 400 (``context_length_exceeded`` for long input)   |
| AccessDenied / UnrecognizedClient / token errors  | 502 upstream_auth_error (message never echoed)     |
| ResourceNotFoundException                         | 404 model_not_found                                |
| InternalServerException, ModelErrorException      | 502 upstream_error (retryable)                     |
| ModelStreamErrorException (mid-stream)            | 502 upstream_error                                 |
| connection errors / read timeouts                 | 502 upstream_connection_error / 504 upstream_timeout |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llm_gateway.errors import GatewayError, InvalidRequestError, UpstreamConnectionError, UpstreamStatusError
from llm_gateway.errors import UpstreamTimeoutError as _Timeout
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.redact import scrub

_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "MissingAuthenticationTokenException",
        "IncompleteSignature",
        "SignatureDoesNotMatch",
    }
)
_CONTEXT_OVERFLOW = re.compile(
    r"too long|too many (input )?tokens|context (length|window)|maximum context|exceeds? the maximum|"
    r"prompt is too long|input length",
    re.IGNORECASE,
)


def _canonical(code: str) -> str:
    # In-stream exceptions are named like event types: "modelStreamErrorException".
    return code[:1].upper() + code[1:]


@dataclass(frozen=True)
class _Rule:
    status: int
    """What the client sees."""
    upstream_status: int
    """What the retry layer sees (its retryable statuses: 408, 429, 5xx)."""
    error_type: str
    code: str
    template: str
    retryable: bool | None = None


_RULES: dict[str, _Rule] = {
    "ThrottlingException": _Rule(
        429, 429, "rate_limit_error", "rate_limit_exceeded", "Bedrock is throttling model '{group}': {text}"
    ),
    "ServiceQuotaExceededException": _Rule(
        429,
        429,
        "insufficient_quota",
        "insufficient_quota",
        "The AWS quota for model '{group}' is exhausted: {text}",
        retryable=False,
    ),
    "ServiceUnavailableException": _Rule(
        503, 503, "server_error", "service_unavailable", "Bedrock model '{group}' is unavailable right now: {text}"
    ),
    "ModelTimeoutException": _Rule(
        504, 408, "upstream_error", "upstream_timeout", "Bedrock model '{group}' took too long: {text}"
    ),
    "ResourceNotFoundException": _Rule(
        404,
        404,
        "invalid_request_error",
        "model_not_found",
        "Bedrock does not know the model configured for '{group}': {text}",
    ),
    "ModelStreamErrorException": _Rule(
        502, 424, "upstream_error", "upstream_error", "Bedrock model '{group}' failed while streaming: {text}"
    ),
    "InternalServerException": _Rule(
        502, 500, "upstream_error", "upstream_error", "Bedrock failed for model '{group}' ({code}): {text}"
    ),
}
_RULES["ModelNotReadyException"] = _RULES["ServiceUnavailableException"]
_RULES["ModelErrorException"] = _RULES["InternalServerException"]


def map_error_code(call: ProviderCall, code: str, message: str, http_status: int | None) -> GatewayError:
    group = call.deployment.group
    code = _canonical(code)
    text = scrub(message) if message else f"Bedrock returned {code}."
    if code in _AUTH_CODES:
        return UpstreamStatusError(
            f"Bedrock refused the gateway's AWS credentials or permissions for model '{group}' ({code}). "
            "The operator must check the IAM role and the model access settings.",
            upstream_status=http_status or 403,
            status_code=502,
            code="upstream_auth_error",
        )
    if code == "ValidationException":
        overflow = bool(_CONTEXT_OVERFLOW.search(message or ""))
        return UpstreamStatusError(
            text,
            upstream_status=400,
            status_code=400,
            error_type="invalid_request_error",
            code="context_length_exceeded" if overflow else "invalid_request",
            param="messages" if overflow else None,
        )
    rule = _RULES.get(code)
    if rule is None:
        status = http_status or 500
        if 400 <= status < 500 and status != 429:
            return UpstreamStatusError(
                text, upstream_status=status, status_code=status, error_type="invalid_request_error", code=code
            )
        rule = _RULES["InternalServerException"]
    error = UpstreamStatusError(
        rule.template.format(group=group, text=text, code=code),
        upstream_status=rule.upstream_status,
        status_code=rule.status,
        error_type=rule.error_type,
        code=rule.code,
    )
    if rule.retryable is not None:
        error.retryable = rule.retryable
    return error


def map_exception(call: ProviderCall, exc: BaseException) -> GatewayError:
    """Any exception raised by the boto3 client (or its event stream) -> a gateway error."""
    from botocore import exceptions as bc

    if isinstance(exc, GatewayError):
        return exc
    group = call.deployment.group
    if isinstance(exc, bc.ClientError):
        response: dict[str, Any] = dict(exc.response)
        error: dict[str, Any] = dict(response.get("Error") or {})
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return map_error_code(call, str(error.get("Code") or "UnknownError"), str(error.get("Message") or ""), status)
    if isinstance(exc, bc.ReadTimeoutError | bc.ConnectTimeoutError):
        return _Timeout(f"Bedrock did not answer in time for model '{group}'.")
    if isinstance(exc, bc.NoCredentialsError | bc.PartialCredentialsError | bc.CredentialRetrievalError):
        missing = UpstreamConnectionError(
            f"The gateway has no usable AWS credentials for model '{group}'.", code="upstream_auth_error"
        )
        missing.retryable = False
        return missing
    if isinstance(exc, bc.ParamValidationError):
        return InvalidRequestError(f"Bedrock cannot take this request: {scrub(str(exc))}", code="invalid_value")
    if isinstance(exc, bc.BotoCoreError):
        return UpstreamConnectionError(f"Could not reach Bedrock for model '{group}' ({type(exc).__name__}).")
    return UpstreamConnectionError(f"Bedrock failed for model '{group}' ({type(exc).__name__}).")
