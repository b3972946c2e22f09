"""OpenAI tool-call ids for Gemini function calls, and back.

Gemini's function calls usually carry no id (the Developer API rarely fills ``functionCall.id``), but an
OpenAI client needs one per call and echoes it in the ``tool`` message that answers the call. Gemini 3
also requires the call's ``thoughtSignature`` to come back with the replayed call, or it answers 400.
OpenAI messages have no slot for it, so the id carries it: the id is self-describing and the gateway
needs no storage to map a conversation back::

    call_<24 hex>[__gid_<Gemini's own id>][__ts_<signature, base64url>]

The hex part is derived from the response id, the candidate and the call's position, so a stream and a
non-stream answer to the same upstream response name their calls identically. Ids from elsewhere (another
provider, a client) decode to "no Gemini id, no signature" and are never sent to Gemini.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass

_GID = "__gid_"
_SIG = "__ts_"
_CORE = re.compile(r"^call_[0-9a-f]{24}$")
_SAFE_GID = re.compile(r"^(?!.*__)[A-Za-z0-9_\-.]{1,128}$")


@dataclass(frozen=True)
class DecodedToolCallId:
    gemini_id: str | None = None
    thought_signature: str | None = None
    """Standard base64, as Gemini sent it."""


def new_tool_call_id(
    response_id: str | None,
    candidate: int,
    position: int,
    *,
    gemini_id: str | None = None,
    thought_signature: str | None = None,
) -> str:
    if response_id:
        seed = f"{response_id}:{candidate}:{position}:{gemini_id or ''}"
        core = hashlib.sha256(seed.encode()).hexdigest()[:24]
    else:
        core = secrets.token_hex(12)
    out = f"call_{core}"
    if gemini_id and _SAFE_GID.match(gemini_id):
        out += _GID + gemini_id
    if thought_signature:
        out += _SIG + _to_urlsafe(thought_signature)
    return out


def decode_tool_call_id(tool_call_id: str) -> DecodedToolCallId:
    head, sep, signature = tool_call_id.partition(_SIG)
    core, gsep, gemini_id = head.partition(_GID)
    if not _CORE.match(core):
        return DecodedToolCallId()
    decoded_signature = _from_urlsafe(signature) if sep else None
    return DecodedToolCallId(
        gemini_id=gemini_id if gsep and _SAFE_GID.match(gemini_id) else None,
        thought_signature=decoded_signature,
    )


def _to_urlsafe(signature: str) -> str:
    return signature.replace("+", "-").replace("/", "_").rstrip("=")


def _from_urlsafe(text: str) -> str | None:
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return base64.b64encode(raw).decode("ascii") if raw else None
