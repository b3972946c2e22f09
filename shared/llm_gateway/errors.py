"""Every failure the gateway reports, as OpenAI-shaped errors.

Hierarchy::

    GatewayError                       any error a client can see: status + OpenAI type/code/param
    ├── InvalidRequestError            400 invalid_request_error (bad body, bad parameter)
    ├── AuthenticationError            401 invalid_api_key
    ├── PermissionDeniedError          403
    ├── ModelNotFoundError             404 model_not_found
    ├── ConflictError                  409
    ├── UnprocessableError             422
    ├── PayloadTooLargeError           413 request_too_large
    ├── RateLimitError                 429 rate_limit_exceeded (carries retry_after)
    ├── UpstreamError                  an upstream answered with an error or not at all
    │   ├── UpstreamStatusError        upstream HTTP error, status passed on (4xx) or mapped (5xx -> 502)
    │   ├── UpstreamConnectionError    502: connection refused, reset, dropped, malformed answer
    │   └── UpstreamTimeoutError       504: no answer within the time allowed
    └── ServiceUnavailableError        503 (everything cooling down, overloaded upstream)

The JSON body is always ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error with an HTTP status and an OpenAI error envelope."""

    status_code: int = 500
    error_type: str = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        if status_code is not None:
            self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type
        self.retry_after = retry_after
        self.headers: dict[str, str] = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["retry-after"] = str(max(1, round(self.retry_after)))
        return headers

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status_code}, code={self.code!r}, message={self.message!r})"


class InvalidRequestError(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(GatewayError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status_code = 403
    error_type = "invalid_request_error"
    default_code = "permission_denied"


class ModelNotFoundError(GatewayError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "model_not_found"


class ConflictError(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class UnprocessableError(GatewayError):
    status_code = 422
    error_type = "invalid_request_error"
    default_code = "unprocessable_entity"


class PayloadTooLargeError(GatewayError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RequestTimeoutError(GatewayError):
    """The client took too long to send its request (``server.header_timeout`` / ``body_timeout``); the
    connection is closed after the answer."""

    status_code = 408
    error_type = "invalid_request_error"
    default_code = "request_timeout"


class RateLimitError(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class GroupLimitError(RateLimitError):
    """A model group is over its configured rpm/tpm (``tenants.model_limits``). Routing skips the group,
    as when every deployment of it answered 429, and moves on to the next fallback; with none left, the
    client gets this 429."""


class ServiceUnavailableError(GatewayError):
    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"


class UpstreamError(GatewayError):
    """The upstream failed. ``retryable`` tells the router whether another attempt may help."""

    status_code = 502
    error_type = "upstream_error"
    default_code = "upstream_error"
    retryable = True

    def __init__(self, message: str, *, upstream_status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.upstream_status = upstream_status


RETRYABLE_UPSTREAM_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP error status."""

    def __init__(self, message: str, *, upstream_status: int, **kwargs: Any) -> None:
        super().__init__(message, upstream_status=upstream_status, **kwargs)
        self.retryable = upstream_status in RETRYABLE_UPSTREAM_STATUSES


class UpstreamConnectionError(UpstreamError):
    default_code = "upstream_connection_error"


class UpstreamTimeoutError(UpstreamError):
    status_code = 504
    default_code = "upstream_timeout"


def internal_error() -> GatewayError:
    """What a client sees for a bug: no details, no stack, no secrets."""
    return GatewayError("The gateway hit an internal error. It has been logged.", code="internal_error")
