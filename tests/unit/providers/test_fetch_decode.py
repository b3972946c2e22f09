"""BodyDecoder: a fetched body's Content-Encoding undone a bounded piece at a time."""

from __future__ import annotations

import gzip
import zlib

import pytest

from llm_gateway.providers.fetch.decode import PIECE, BodyDecoder, UnsupportedEncoding


def _decoded(decoder: BodyDecoder, wire: bytes, read: int) -> list[bytes]:
    pieces = [p for start in range(0, len(wire), read) for p in decoder.feed(wire[start : start + read])]
    return pieces + list(decoder.finish())


@pytest.mark.parametrize("read", [1, 7, 4096, 1 << 20])
def test_every_piece_is_bounded_whatever_the_ratio_and_the_reads(read: int) -> None:
    body = bytes(8 * 1024 * 1024) + b"tail"  # ~1,000 to 1
    pieces = _decoded(BodyDecoder("gzip"), gzip.compress(body), read)
    assert max(len(p) for p in pieces) <= PIECE
    assert b"".join(pieces) == body


def test_raw_deflate_is_accepted_as_deflate() -> None:
    body = b"abc" * 100_000
    wire = zlib.compress(body, wbits=-zlib.MAX_WBITS)
    assert b"".join(_decoded(BodyDecoder("deflate"), wire, 1000)) == body


def test_identity_passes_through_and_other_encodings_are_refused() -> None:
    assert _decoded(BodyDecoder(None), b"plain", 2) == [b"pl", b"ai", b"n"]
    assert _decoded(BodyDecoder(" Identity "), b"x", 1) == [b"x"]
    for encoding in ("br", "zstd", "gzip, gzip", "compress"):
        with pytest.raises(UnsupportedEncoding):
            BodyDecoder(encoding)


def test_a_corrupt_body_raises_zlib_error() -> None:
    with pytest.raises(zlib.error):
        _decoded(BodyDecoder("gzip"), b"\x1f\x8b\x08\x00not gzip at all", 100)
