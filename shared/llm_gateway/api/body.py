"""Read a request body without ever holding more than the configured limit."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from llm_gateway.errors import InvalidRequestError, PayloadTooLargeError


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body is larger than the gateway's limit of {limit} bytes "
        f"({limit / 1024 / 1024:.0f} MB, the Lambda payload limit)."
    )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise InvalidRequestError("The Content-Length header is not a number.") from None
    parts: list[bytes] = []
    size = 0
    try:
        async for piece in request.stream():
            size += len(piece)
            if size > limit:
                raise _too_large(limit)
            parts.append(piece)
    except ClientDisconnect:
        raise InvalidRequestError("The client disconnected before sending the whole body.") from None
    return b"".join(parts)
