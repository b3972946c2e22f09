"""The SSRF-safe fetcher: download one http(s) media URL from a public address, within caps.

Every hop (the URL and each redirect) is checked the same way: scheme (https, or http when the operator
allows it), no credentials in the URL, hostname not a metadata/loopback name, host literal or every DNS
answer a public unicast address. The connection then goes to the address that was checked (the URL's
host is replaced by the IP; ``Host`` and TLS SNI/certificate checks keep the name), so DNS cannot
answer differently between the check and the connect. Size is capped while streaming, time for the
whole fetch (DNS and redirects included), and the body's type must be one the caller allows.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.fetch.addresses import (
    IPAddress,
    MalformedAddressError,
    forbidden_hostname,
    forbidden_reason,
    in_networks,
    parse_ip_literal,
    parse_networks,
)
from llm_gateway.providers.fetch.config import MediaFetchConfig
from llm_gateway.providers.fetch.decode import ACCEPT_ENCODING, BodyDecoder, UnsupportedEncoding
from llm_gateway.providers.fetch.sniff import detect_media_type, normalize_media_type

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``resolver(hostname, port)`` -> the addresses (text) the name resolves to."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the OS resolver (``getaddrinfo`` in a thread, so the loop never blocks)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class MediaFetchError(InvalidRequestError):
    """A media URL the gateway will not or could not fetch: always the client's 400, never a 500."""

    default_code = "media_fetch_failed"


@dataclass(frozen=True)
class FetchedMedia:
    url: str
    """The URL finally fetched (after redirects)."""
    media_type: str
    data: bytes


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str
    address: IPAddress


class MediaFetcher:
    """Fetches media URLs under :class:`MediaFetchConfig`. One per process; the HTTP client is lazy.

    ``resolver`` and ``allowed_networks`` exist for tests (map names to 127.0.0.1 and allow it); they
    are not config settings, so an operator cannot open private networks by mistake.
    """

    def __init__(
        self,
        config: MediaFetchConfig | None = None,
        *,
        resolver: Resolver | None = None,
        allowed_networks: Iterable[str] = (),
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.config = config or MediaFetchConfig()
        self._resolver = resolver or system_resolver
        self._allowed = parse_networks(allowed_networks)
        self._verify = verify
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    async def fetch(
        self,
        url: str,
        *,
        allowed_types: Collection[str],
        max_bytes: int | None = None,
        param: str | None = None,
    ) -> FetchedMedia:
        """Download ``url``; raise :class:`MediaFetchError` (400) when policy or the remote says no."""
        if not self.config.enabled:
            raise MediaFetchError(
                "This gateway does not fetch media URLs. Send the content inline as a base64 data URL.",
                param=param,
                code="media_fetch_disabled",
            )
        limit = min(max_bytes or self.config.max_bytes, self.config.max_bytes)
        try:
            async with asyncio.timeout(self.config.timeout):
                return await self._follow(url, allowed_types, limit, param)
        except TimeoutError:
            raise MediaFetchError(
                f"The media URL did not answer within {self.config.timeout:g} seconds.",
                param=param,
                code="media_fetch_timeout",
            ) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _follow(self, url: str, allowed_types: Collection[str], limit: int, param: str | None) -> FetchedMedia:
        import httpx

        current = url
        for _ in range(self.config.max_redirects + 1):
            target = await self._check(current, param)
            try:
                response = await self._send(target, allowed_types)
            except httpx.HTTPError as exc:
                raise MediaFetchError(
                    f"The media URL could not be fetched ({type(exc).__name__}).", param=param
                ) from None
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise MediaFetchError("The media URL redirected without a Location.", param=param)
                    current = str(target.url.join(location))
                    continue
                if response.status_code >= 400:
                    raise MediaFetchError(f"The media URL answered HTTP {response.status_code}.", param=param)
                declared = response.headers.get("content-type")
                if normalize_media_type(declared) not in {"", *allowed_types} and not _generic(declared):
                    raise _type_error(declared, allowed_types, param)
                data = await _read_capped(response, limit, param)
            except httpx.HTTPError as exc:
                raise MediaFetchError(f"The media URL could not be read ({type(exc).__name__}).", param=param) from None
            finally:
                await response.aclose()
            media_type = detect_media_type(declared, data, allowed_types)
            if media_type is None:
                raise _type_error(declared, allowed_types, param)
            return FetchedMedia(url=str(target.url), media_type=media_type, data=data)
        raise MediaFetchError(
            f"The media URL redirected more than {self.config.max_redirects} times.",
            param=param,
            code="media_too_many_redirects",
        )

    async def _check(self, url: str, param: str | None) -> _Target:
        import httpx

        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError):
            raise _refused("it is not a valid URL", param) from None
        schemes = ("https", "http") if self.config.allow_http else ("https",)
        if parsed.scheme not in schemes:
            allowed = " or ".join(schemes)
            raise _refused(f"only {allowed} URLs are fetched", param)
        if parsed.userinfo:
            raise _refused("URLs with credentials are not fetched", param)
        host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS, Host and SNI need
        if not host:
            raise _refused("it has no host", param)
        if forbidden_hostname(host):
            raise _refused("its host is a local or cloud-metadata name", param)
        try:
            literal = parse_ip_literal(host)
        except MalformedAddressError:
            raise _refused("its host is a malformed address", param) from None
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if literal is not None:
            candidates: list[IPAddress] = [literal]
        else:
            candidates = await self._resolve(host, port, param)
        for address in candidates:
            reason = None if in_networks(address, self._allowed) else forbidden_reason(address)
            if reason is not None:
                raise _refused(f"its host resolves to a {reason} address", param)
        return _Target(url=parsed, host=host, address=candidates[0])

    async def _resolve(self, host: str, port: int, param: str | None) -> list[IPAddress]:
        import ipaddress

        answers = await self._resolver(host, port)
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            raise MediaFetchError("The media URL's host name does not resolve.", param=param)
        return addresses

    async def _send(self, target: _Target, allowed_types: Collection[str]) -> httpx.Response:
        client = self._http()
        url = target.url
        pinned = url.copy_with(host=str(target.address))
        default_port = 443 if url.scheme == "https" else 80
        host_header = f"[{target.host}]" if ":" in target.host else target.host
        if url.port not in (None, default_port):
            host_header += f":{url.port}"
        extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
        request = client.build_request(
            "GET",
            pinned,
            headers={
                "host": host_header,
                "accept": ", ".join(sorted(allowed_types)) or "*/*",
                "accept-encoding": ACCEPT_ENCODING,
            },
            extensions=extensions,
        )
        return await client.send(request, stream=True)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            timeout = self.config.timeout
            self._client = httpx.AsyncClient(
                verify=self._verify,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                # No keep-alive: a pooled TLS connection is keyed by IP and would be reused for another name.
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=0),
                follow_redirects=False,
                trust_env=False,
                headers={"user-agent": "llm-gateway-media-fetch"},
            )
        return self._client


def _generic(declared: str | None) -> bool:
    return normalize_media_type(declared) in {"", "application/octet-stream", "binary/octet-stream"}


async def _read_capped(response: httpx.Response, limit: int, param: str | None) -> bytes:
    """The body, decoded a bounded piece at a time (``decode.py``): never more than ``limit`` plus a piece
    held, however well it was compressed."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, param)
    try:
        decoder = BodyDecoder(response.headers.get("content-encoding"))
    except UnsupportedEncoding as exc:
        raise MediaFetchError(
            f"The media URL answered in a content encoding the gateway did not ask for ({exc}).", param=param
        ) from None
    parts: list[bytes] = []
    size = 0

    def take(pieces: Iterable[bytes]) -> None:
        nonlocal size
        for piece in pieces:
            size += len(piece)
            if size > limit:
                raise _too_large(limit, param)
            parts.append(piece)

    try:
        async for raw in response.aiter_raw():
            take(decoder.feed(raw))
        take(decoder.finish())
    except zlib.error:
        raise MediaFetchError(f"The media URL's {decoder.encoding} body is corrupt.", param=param) from None
    return b"".join(parts)


def _refused(why: str, param: str | None) -> MediaFetchError:
    return MediaFetchError(f"The gateway does not fetch this media URL: {why}.", param=param, code="media_url_refused")


def _too_large(limit: int, param: str | None) -> MediaFetchError:
    return MediaFetchError(
        f"The media at the URL is larger than the gateway's limit ({limit} bytes).",
        param=param,
        code="media_too_large",
    )


def _type_error(declared: str | None, allowed: Collection[str], param: str | None) -> MediaFetchError:
    shown = normalize_media_type(declared) or "unknown"
    return MediaFetchError(
        f"The media URL returned content of type '{shown}'; expected one of: {', '.join(sorted(allowed))}.",
        param=param,
        code="media_type_not_allowed",
    )
