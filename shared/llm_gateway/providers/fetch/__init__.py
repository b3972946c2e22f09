"""Fetch http(s) media URLs safely, for providers that need bytes (Bedrock) instead of URLs.

Public surface::

    from llm_gateway.providers.fetch import MediaFetcher, MediaFetchError, IMAGE_TYPES

    media = await fetcher.fetch(url, allowed_types=IMAGE_TYPES, max_bytes=3_750_000, param="messages[0]...")
    media.media_type, media.data          # checked type (magic bytes win), the body

- :class:`MediaFetcher` -- one per process (``ProviderDeps.media_fetcher``); ``fetch`` raises
  :class:`MediaFetchError` (a 400 ``invalid_request_error``; codes ``media_fetch_disabled``,
  ``media_url_refused``, ``media_fetch_failed``, ``media_fetch_timeout``, ``media_too_large``,
  ``media_type_not_allowed``, ``media_too_many_redirects``).
- :class:`MediaFetchConfig` -- the ``media_fetch:`` config section (``enabled``, ``allow_http``,
  ``max_bytes``, ``timeout``, ``max_redirects``).
- :func:`detect_media_type` -- check declared type against magic bytes (also useful for data URLs).

Policy: https only (``allow_http`` to allow http); the host, as a literal in any notation or after DNS
resolution, must be public unicast: loopback, private, link-local, unique-local, CGNAT, multicast,
reserved and cloud-metadata addresses (169.254.169.254, fd00:ec2::254, metadata.google.internal, ...)
are refused, IPv4 embedded in IPv6 included. The checked IP is the one connected to (no DNS-rebinding
window), and every redirect is checked again. Size is capped while streaming; time covers the whole
fetch; the content type must be allowed and, where cheap, match the magic bytes.
"""

from llm_gateway.providers.fetch.config import MediaFetchConfig
from llm_gateway.providers.fetch.fetcher import FetchedMedia, MediaFetcher, MediaFetchError, Resolver, system_resolver
from llm_gateway.providers.fetch.sniff import IMAGE_TYPES, detect_media_type, normalize_media_type

__all__ = [
    "IMAGE_TYPES",
    "FetchedMedia",
    "MediaFetchConfig",
    "MediaFetchError",
    "MediaFetcher",
    "Resolver",
    "detect_media_type",
    "normalize_media_type",
    "system_resolver",
]
