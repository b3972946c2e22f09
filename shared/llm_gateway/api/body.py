"""Read a request body without ever holding more than the configured limit."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

from llm_gateway.errors import InvalidRequestError, PayloadTooLargeError


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body is larger than the gateway's limit of {limit} bytes "
        f"({limit / 1024 / 1024:.0f} MB, the Lambda payload limit)."
    )


async def read_body(request: Request, limit: int, headers: Mapping[str, str] | None = None) -> bytes:
    """The whole body, read from the ASGI channel (``headers``: the request's, if already read)."""
    declared = (request.headers if headers is None else headers).get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise InvalidRequestError("The Content-Length header is not a number.") from None
    receive = request.receive
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise InvalidRequestError("The client disconnected before sending the whole body.")
        piece = message.get("body", b"")
        if piece:
            size += len(piece)
            if size > limit:
                raise _too_large(limit)
            parts.append(piece)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)
