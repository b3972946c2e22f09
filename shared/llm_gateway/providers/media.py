"""Helpers for media in content parts (data URLs)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


@dataclass(frozen=True)
class DataURL:
    media_type: str
    data: str
    """Base64 text, as in the URL."""

    def bytes(self) -> bytes:
        return base64.b64decode(self.data, validate=True)


def parse_data_url(url: str) -> DataURL | None:
    """``data:image/png;base64,AAAA`` -> DataURL; None when ``url`` is not a base64 data URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep:
        return None
    parts = header.split(";")
    if "base64" not in parts[1:]:
        return None
    media_type = parts[0] or "application/octet-stream"
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return DataURL(media_type=media_type.lower(), data=data)
