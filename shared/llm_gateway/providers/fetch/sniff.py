"""Media types: normalising ``Content-Type`` values and checking them against the body's magic bytes."""

from __future__ import annotations

from collections.abc import Collection

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "text/x-markdown": "text/markdown",
    "application/x-pdf": "application/pdf",
}
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})
_MAGIC: tuple[tuple[str, bytes], ...] = (
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/gif", b"GIF87a"),
    ("image/gif", b"GIF89a"),
    ("application/pdf", b"%PDF-"),
)
_SNIFFABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})


def normalize_media_type(value: str | None) -> str:
    """``"Image/JPG; charset=x"`` -> ``"image/jpeg"``; ``None`` -> ``""``."""
    if not value:
        return ""
    bare = value.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def sniff(data: bytes) -> str | None:
    """The media type the first bytes prove, for the formats whose signature is cheap to check."""
    for media_type, magic in _MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def detect_media_type(declared: str | None, data: bytes, allowed: Collection[str]) -> str | None:
    """The media type to use for ``data``, or None when it is not one of ``allowed``.

    Magic bytes win over a declared type (servers mislabel PNGs as JPEGs); a declared type whose
    signature we know but the bytes lack is refused; a generic or missing type needs a signature.
    """
    claimed = normalize_media_type(declared)
    proven = sniff(data)
    if proven is not None:
        return proven if proven in allowed else None
    if claimed in _SNIFFABLE or claimed in _GENERIC:
        return None
    return claimed if claimed in allowed else None
