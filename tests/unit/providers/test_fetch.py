"""The media fetcher against a real local server: policy, pinning, redirects, caps, types, TLS.

Traffic only ever goes to 127.0.0.1: names are mapped by an injected resolver, and the "public"
path is exercised by allowing 127.0.0.0/8 through the test-only ``allowed_networks`` override.
"""

from __future__ import annotations

import gzip
import ssl
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from llm_gateway.providers.fetch import IMAGE_TYPES, MediaFetchConfig, MediaFetcher, MediaFetchError
from tests.support.fake_media import PNG, FakeMediaServer, Media, resolver

pytestmark = pytest.mark.slow

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeMediaServer]:
    fake = FakeMediaServer().start()
    yield fake  # type: ignore[misc]
    fake.stop()


@pytest.fixture
def media(server: FakeMediaServer) -> Iterator[FakeMediaServer]:
    server.reset()
    server.routes.clear()
    server.routes["/cat.png"] = Media()
    yield server


def fetcher(**config: Any) -> MediaFetcher:
    table = config.pop("table", {"images.example": ["127.0.0.1"]})
    allowed = config.pop("allowed", LOOPBACK)
    return MediaFetcher(
        MediaFetchConfig(**{"allow_http": True, **config}), resolver=resolver(table), allowed_networks=allowed
    )


async def refused(fetch: MediaFetcher, url: str) -> MediaFetchError:
    with pytest.raises(MediaFetchError) as info:
        await fetch.fetch(url, allowed_types=IMAGE_TYPES, param="messages[0].content[0].image_url.url")
    await fetch.aclose()
    assert info.value.status_code == 400
    assert info.value.param == "messages[0].content[0].image_url.url"
    return info.value


async def test_fetches_an_allowed_host_through_the_pinned_address(media: FakeMediaServer) -> None:
    fetch = fetcher()
    got = await fetch.fetch(f"http://images.example:{media.port}/cat.png", allowed_types=IMAGE_TYPES)
    await fetch.aclose()
    assert got.media_type == "image/png"
    assert got.data == PNG
    assert media.requests[-1].headers["host"] == f"images.example:{media.port}"


async def test_international_names_are_resolved_and_sent_idna_encoded(media: FakeMediaServer) -> None:
    fetch = fetcher(table={"xn--bcher-kva.example": ["127.0.0.1"]})
    got = await fetch.fetch(f"http://bücher.example:{media.port}/cat.png", allowed_types=IMAGE_TYPES)
    await fetch.aclose()
    assert got.data == PNG
    assert media.requests[-1].headers["host"] == f"xn--bcher-kva.example:{media.port}"


async def test_switched_off_means_a_clear_400_and_no_traffic(media: FakeMediaServer) -> None:
    error = await refused(fetcher(enabled=False), f"http://images.example:{media.port}/cat.png")
    assert error.code == "media_fetch_disabled"
    assert media.requests == []


async def test_https_only_by_default(media: FakeMediaServer) -> None:
    error = await refused(fetcher(allow_http=False), f"http://images.example:{media.port}/cat.png")
    assert error.code == "media_url_refused"
    assert "https" in error.message
    for url in ("ftp://images.example/cat.png", "file:///etc/passwd", "gopher://images.example/"):
        assert (await refused(fetcher(), url)).code == "media_url_refused"


FORBIDDEN_URLS = [
    "http://127.0.0.1:{port}/cat.png",
    "http://2130706433:{port}/cat.png",
    "http://0x7f.1:{port}/cat.png",
    "http://0177.0.0.1:{port}/cat.png",
    "http://127.1:{port}/cat.png",
    "http://[::1]:{port}/cat.png",
    "http://[::ffff:127.0.0.1]:{port}/cat.png",
    "http://[::ffff:7f00:1]:{port}/cat.png",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://localhost:{port}/cat.png",
    "http://10.0.0.1/",
    "http://192.168.0.10/",
    "http://100.64.1.1/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://user:pw@images.example:{port}/cat.png",
]


@pytest.mark.parametrize("template", FORBIDDEN_URLS)
async def test_forbidden_literal_hosts_are_refused_without_traffic(media: FakeMediaServer, template: str) -> None:
    # No allow-list here: loopback is as forbidden as in production.
    error = await refused(fetcher(allowed=[]), template.format(port=media.port))
    assert error.code == "media_url_refused"
    assert media.requests == []


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.7"], ["93.184.215.14", "169.254.169.254"], ["fd00:ec2::254"], ["::ffff:192.168.1.1"], ["127.0.0.1"]],
)
async def test_names_resolving_to_forbidden_addresses_are_refused(media: FakeMediaServer, answers: list[str]) -> None:
    error = await refused(
        fetcher(allowed=[], table={"evil.example": answers}), f"http://evil.example:{media.port}/cat.png"
    )
    assert error.code == "media_url_refused"
    assert "resolves to" in error.message
    assert media.requests == []


async def test_unresolvable_name(media: FakeMediaServer) -> None:
    error = await refused(fetcher(table={}), f"http://nowhere.example:{media.port}/cat.png")
    assert error.code == "media_fetch_failed"


async def test_redirects_are_checked_again_on_every_hop(media: FakeMediaServer) -> None:
    media.routes["/to-metadata"] = Media(status=302, headers={"location": "http://169.254.169.254/latest/"})
    media.routes["/to-private-name"] = Media(
        status=301, headers={"location": f"http://intranet.example:{media.port}/cat.png"}
    )
    media.routes["/to-cat"] = Media(status=307, headers={"location": "/cat.png"})
    table = {"images.example": ["127.0.0.1"], "intranet.example": ["10.1.2.3"]}
    base = f"http://images.example:{media.port}"
    assert (await refused(fetcher(table=table), base + "/to-metadata")).code == "media_url_refused"
    assert (await refused(fetcher(table=table), base + "/to-private-name")).code == "media_url_refused"
    fetch = fetcher(table=table)
    got = await fetch.fetch(base + "/to-cat", allowed_types=IMAGE_TYPES)
    await fetch.aclose()
    assert got.data == PNG
    assert got.url.endswith("/cat.png")


async def test_redirects_are_bounded(media: FakeMediaServer) -> None:
    media.routes["/loop"] = Media(status=302, headers={"location": "/loop"})
    error = await refused(fetcher(max_redirects=2), f"http://images.example:{media.port}/loop")
    assert error.code == "media_too_many_redirects"
    assert len(media.requests) == 3


async def test_size_cap_declared_and_streamed(media: FakeMediaServer) -> None:
    big = PNG + b"\x00" * 5000
    media.routes["/big.png"] = Media(body=big)
    media.routes["/big-chunked.png"] = Media(body=big, trickle=10)
    for path in ("/big.png", "/big-chunked.png"):
        error = await refused(fetcher(max_bytes=2048), f"http://images.example:{media.port}{path}")
        assert error.code == "media_too_large"


async def test_time_cap_covers_the_whole_fetch(media: FakeMediaServer) -> None:
    media.routes["/slow.png"] = Media(delay=5.0)
    media.routes["/trickle.png"] = Media(delay=0.4, trickle=20)
    # Without a cap on the whole fetch, the slow image would arrive after 5 s and the trickle (a byte
    # every 0.4 s, inside any per-read timeout) after 8 s: the timeout code alone shows the cap ended both.
    for path in ("/slow.png", "/trickle.png"):
        error = await refused(fetcher(timeout=0.5), f"http://images.example:{media.port}{path}")
        assert error.code == "media_fetch_timeout"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (PNG, "application/octet-stream", "image/png"),
        (PNG, "image/jpeg", "image/png"),
        (PNG, "", "image/png"),
        (b"GIF89a" + b"\x00" * 10, "image/gif", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp", "image/webp"),
        (b"<html>not an image</html>", "text/html", None),
        (b"<html>not an image</html>", "image/png", None),
        (b"plain bytes", "application/octet-stream", None),
    ],
)
async def test_content_type_checked_against_magic_bytes(
    media: FakeMediaServer, body: bytes, content_type: str, expected: str | None
) -> None:
    media.routes["/thing"] = Media(body=body, content_type=content_type)
    url = f"http://images.example:{media.port}/thing"
    if expected is None:
        assert (await refused(fetcher(), url)).code == "media_type_not_allowed"
        return
    fetch = fetcher()
    got = await fetch.fetch(url, allowed_types=IMAGE_TYPES)
    await fetch.aclose()
    assert got.media_type == expected


async def test_http_errors_from_the_media_host(media: FakeMediaServer) -> None:
    error = await refused(fetcher(), f"http://images.example:{media.port}/missing.png")
    assert error.code == "media_fetch_failed"
    assert "404" in error.message


# --- TLS: the connection goes to the pinned IP while SNI and certificate checks use the name ----------


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[FakeMediaServer, ssl.SSLContext]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("images.example").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    fake = FakeMediaServer(tls=server_context).start()
    fake.routes["/cat.png"] = Media()  # type: ignore[attr-defined]
    fake.routes["/downgrade"] = Media(status=302, headers={"location": f"http://images.example:{fake.port}/cat.png"})  # type: ignore[attr-defined]
    yield fake, client_context  # type: ignore[misc]
    fake.stop()


def tls_fetcher(context: ssl.SSLContext, table: dict[str, list[str]]) -> MediaFetcher:
    return MediaFetcher(MediaFetchConfig(), resolver=resolver(table), allowed_networks=LOOPBACK, verify=context)


async def test_https_fetch_verifies_the_name_on_the_pinned_connection(
    tls_server: tuple[FakeMediaServer, ssl.SSLContext],
) -> None:
    server, context = tls_server
    fetch = tls_fetcher(context, {"images.example": ["127.0.0.1"]})
    got = await fetch.fetch(f"https://images.example:{server.port}/cat.png", allowed_types=IMAGE_TYPES)
    await fetch.aclose()
    assert got.data == PNG


async def test_https_certificate_for_another_name_is_refused(
    tls_server: tuple[FakeMediaServer, ssl.SSLContext],
) -> None:
    server, context = tls_server
    fetch = tls_fetcher(context, {"other.example": ["127.0.0.1"]})
    error = await refused(fetch, f"https://other.example:{server.port}/cat.png")
    assert error.code == "media_fetch_failed"


async def test_https_to_http_downgrade_is_refused(tls_server: tuple[FakeMediaServer, ssl.SSLContext]) -> None:
    server, context = tls_server
    fetch = tls_fetcher(context, {"images.example": ["127.0.0.1"]})
    error = await refused(fetch, f"https://images.example:{server.port}/downgrade")
    assert error.code == "media_url_refused"


def _gzipped_zeros(size: int, wbits: int = 16 + zlib.MAX_WBITS) -> bytes:
    """``size`` zero bytes, compressed a megabyte at a time (never held whole): ~1,000 to 1."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(size // len(block))) + packer.flush()


CAP = 1024 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_refused_holding_no_more_than_the_cap(
    media: FakeMediaServer, encoding: str
) -> None:
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    bomb = _gzipped_zeros(128 * CAP, wbits)  # 128 MiB once inflated, ~128 KB on the wire
    media.routes["/bomb.png"] = Media(body=bomb, headers={"content-encoding": encoding})
    fetch = fetcher(max_bytes=CAP)
    await fetch.fetch(f"http://images.example:{media.port}/cat.png", allowed_types=IMAGE_TYPES)  # a warm client
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        error = await refused(fetch, f"http://images.example:{media.port}/bomb.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "media_too_large"
    grown = peak - before
    print(f"{encoding} bomb: peak {grown / CAP:.2f}x the {CAP} byte cap")
    assert grown < 3 * CAP  # the decoded pieces up to the cap, one piece over it, the wire's reads


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate", "identity"])
async def test_an_encoded_body_within_the_cap_arrives_decoded(media: FakeMediaServer, encoding: str) -> None:
    body = PNG + bytes(300_000) + b"end"
    wire = {
        "gzip": lambda: gzip.compress(body),
        "x-gzip": lambda: gzip.compress(body),
        "deflate": lambda: zlib.compress(body),
        "raw-deflate": lambda: zlib.compress(body, wbits=-zlib.MAX_WBITS),
        "identity": lambda: body,
    }[encoding]()
    header = "deflate" if encoding == "raw-deflate" else encoding
    media.routes["/packed.png"] = Media(body=wire, headers={"content-encoding": header}, trickle=7)
    fetch = fetcher()
    got = await fetch.fetch(f"http://images.example:{media.port}/packed.png", allowed_types=IMAGE_TYPES)
    await fetch.aclose()
    assert got.data == body and got.media_type == "image/png"
    assert media.requests[-1].headers["accept-encoding"] == "gzip, deflate"


async def test_an_encoding_the_gateway_did_not_ask_for_is_refused(media: FakeMediaServer) -> None:
    media.routes["/brotli.png"] = Media(body=b"\x1b\x00\x00", headers={"content-encoding": "br"})
    error = await refused(fetcher(), f"http://images.example:{media.port}/brotli.png")
    assert error.code == "media_fetch_failed" and "br" in error.message


async def test_a_corrupt_gzip_body_is_refused(media: FakeMediaServer) -> None:
    media.routes["/broken.png"] = Media(body=b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"content-encoding": "gzip"})
    error = await refused(fetcher(), f"http://images.example:{media.port}/broken.png")
    assert error.code == "media_fetch_failed" and "corrupt" in error.message
