"""Embedding vectors on the wire: JSON floats, or base64 of little-endian float32 as OpenAI sends them.

OpenAI's ``encoding_format: base64`` is the vector's float32 values, little-endian, base64-encoded (its
SDKs decode it with ``numpy.frombuffer(..., dtype="float32")``). Real models compute float32, so a vector
decoded from base64 and printed as JSON floats is the same vector, and the other way round.
"""

from __future__ import annotations

import base64
import binascii
import sys
from array import array
from collections.abc import Sequence

_BIG_ENDIAN = sys.byteorder == "big"


def _float32(values: Sequence[float]) -> array[float]:
    packed = array("f", values)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed


def encode_base64(vector: Sequence[float]) -> str:
    """``vector`` as OpenAI's base64 (float32, little-endian)."""
    return base64.b64encode(_float32(vector).tobytes()).decode("ascii")


def decode_base64(text: str) -> list[float]:
    """The floats of an OpenAI base64 vector; ``ValueError`` when ``text`` is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    values = array("f")
    values.frombytes(raw)
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tolist()


def as_float32(vector: Sequence[float]) -> list[float]:
    """``vector`` rounded to float32 values, as a model's output is."""
    return array("f", vector).tolist()
