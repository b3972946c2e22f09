"""Which network addresses the media fetcher may connect to: public unicast only.

Host literals are parsed the lenient way C's ``inet_aton`` (and so many HTTP stacks) does, so a URL
cannot sneak a loopback address past as ``2130706433``, ``0x7f.1`` or ``0177.0.0.1``. IPv6 addresses
that embed an IPv4 address (IPv4-mapped, 6to4, NAT64) are judged by the embedded address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CLOUD_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
        "169.254.170.2",  # ECS task metadata / credentials
        "169.254.170.23",  # EKS pod identity agent
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)

CLOUD_METADATA_HOSTNAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")

_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCTAL = re.compile(r"0[0-7]+")
_DECIMAL = re.compile(r"[0-9]+")
_NUMERIC_LABEL = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)")


class MalformedAddressError(ValueError):
    """The host looks numeric but is not a valid address (e.g. ``08.1.2.3``)."""


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host denotes when it is an IP literal in any common notation, else None.

    Accepts ``[v6]``, dotted quads, and the ``inet_aton`` shorthands: fewer than four parts, decimal,
    octal (leading 0) and hex (0x) parts. Raises :class:`MalformedAddressError` for numeric-looking
    hosts that are not valid addresses, so they are refused rather than sent to DNS.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        if "%" in text:
            raise MalformedAddressError("IPv6 zone identifiers are not allowed")
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise MalformedAddressError(f"{host!r} is not a valid IPv6 address") from None
    labels = text.rstrip(".").split(".")
    if not labels or not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return None
    if len(labels) > 4:
        raise MalformedAddressError(f"{host!r} has too many numeric parts")
    values = [_label_value(label, host) for label in labels]
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (5 - len(values)):
        raise MalformedAddressError(f"{host!r} is out of range for an IPv4 address")
    number = last
    for position, value in enumerate(leading):
        number |= value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)


def _label_value(label: str, host: str) -> int:
    if _HEX.fullmatch(label):
        return int(label[2:] or "0", 16)
    if _OCTAL.fullmatch(label):
        return int(label, 8)
    if _DECIMAL.fullmatch(label) and (label == "0" or not label.startswith("0")):
        return int(label)
    raise MalformedAddressError(f"{host!r} has an invalid numeric part {label!r}")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why the fetcher must not connect to ``address`` (a short class name), or None when it is public."""
    if address in CLOUD_METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv6Address):
        return _ipv6_reason(address)
    return _generic_reason(address)


def _ipv6_reason(address: ipaddress.IPv6Address) -> str | None:
    if address.scope_id:
        return "scoped (zone) address"
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = forbidden_reason(inner)
        return f"{reason} (embedded in IPv6)" if reason else None
    if address.teredo is not None:
        return "Teredo tunnel"
    if address in _UNIQUE_LOCAL:
        return "unique-local"
    if address in _SITE_LOCAL:
        return "site-local"
    return _generic_reason(address)


def _generic_reason(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "carrier-grade NAT"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not globally routable"
    return None


def forbidden_hostname(host: str) -> bool:
    """Names refused before any DNS lookup: cloud metadata services and loopback names."""
    name = host.strip().rstrip(".").lower()
    return (
        name in CLOUD_METADATA_HOSTNAMES or name == "localhost" or name.endswith((".localhost", ".internal", ".local"))
    )


def parse_networks(networks: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def in_networks(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)
