"""Undo a fetched body's ``Content-Encoding`` a bounded piece at a time.

httpx decodes each network read whole: 64 KB of gzip on the wire can become 64 MB in one call, before the
fetcher can count a byte against its cap (a gzip bomb grew the process by ~127 MB before it was refused).
Here the fetcher reads the raw body and inflates it at most :data:`PIECE` bytes per call, so what it holds is
bounded by its cap plus one piece, whatever the compression ratio. The fetcher asks only for what this
module decodes (gzip, deflate); a body in any other encoding is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024
"""The most bytes one inflate call produces."""

ACCEPT_ENCODING = "gzip, deflate"
"""What the fetcher tells media hosts it can decode."""

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` the fetcher does not decode (it never asked for it)."""


class BodyDecoder:
    """Feed it the raw body's reads in order; it yields the decoded body in pieces of at most :data:`PIECE`
    bytes. Raises ``zlib.error`` on a corrupt body."""

    def __init__(self, content_encoding: str | None) -> None:
        encoding = (content_encoding or "").strip().lower()
        self.encoding = encoding
        if encoding in ("", "identity"):
            self._inflater = None
        elif encoding in _WBITS:
            self._inflater = zlib.decompressobj(_WBITS[encoding])
        else:
            raise UnsupportedEncoding(encoding)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflater is None:
            if data:
                yield data
            return
        while True:
            try:
                out = self._inflater.decompress(data, PIECE)
            except zlib.error:
                if self.encoding != "deflate" or self._started:
                    raise
                # "deflate" is sent both zlib-wrapped (as the RFC says) and raw (as some servers do)
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                continue
            self._started = True
            if out:
                yield out
            data = self._inflater.unconsumed_tail
            # a full piece may leave more output inside zlib even once the input is used up
            if not data and len(out) < PIECE:
                return

    def finish(self) -> Iterator[bytes]:
        """What is left once the raw body has ended (at most a piece's worth: :meth:`feed` drained zlib)."""
        if self._inflater is not None:
            rest = self._inflater.flush()
            if rest:
                yield rest
