"""Address parsing and classification for the media fetcher: every forbidden class, every notation."""

from __future__ import annotations

import ipaddress

import pytest

from llm_gateway.providers.fetch.addresses import (
    MalformedAddressError,
    forbidden_hostname,
    forbidden_reason,
    parse_ip_literal,
)

LITERALS = [
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("10.1.258", "10.1.1.2"),
    ("0", "0.0.0.0"),
    ("169.254.169.254.", "169.254.169.254"),
    ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254"),
    ("[::1]", "::1"),
    ("::ffff:7f00:1", "::ffff:127.0.0.1"),
    ("example.com", None),
    ("1.example", None),
]


@pytest.mark.parametrize(("host", "expected"), LITERALS)
def test_literal_notations(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed is not None else None) == (str(ipaddress.ip_address(expected)) if expected else None)


@pytest.mark.parametrize("host", ["08.0.0.1", "1.2.3.4.5", "256.1.1.1", "0x1ffffffff", "fe80::1%eth0", "[::g]"])
def test_malformed_numeric_hosts_are_refused(host: str) -> None:
    with pytest.raises(MalformedAddressError):
        parse_ip_literal(host)


FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.3.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("::ffff:127.0.0.1", "loopback (embedded in IPv6)"),
    ("::ffff:169.254.169.254", "cloud metadata (embedded in IPv6)"),
    ("::ffff:10.0.0.1", "private (embedded in IPv6)"),
    ("2002:7f00:1::", "loopback (embedded in IPv6)"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata (embedded in IPv6)"),
    ("2001:db8::1", "private"),
    ("192.0.2.10", "private"),
    ("198.18.0.1", "private"),
]


@pytest.mark.parametrize(("address", "reason"), FORBIDDEN)
def test_forbidden_classes(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("name", "forbidden"),
    [
        ("metadata.google.internal", True),
        ("METADATA.GOOGLE.INTERNAL.", True),
        ("localhost", True),
        ("api.localhost", True),
        ("instance-data", True),
        ("images.example.com", False),
    ],
)
def test_forbidden_hostnames(name: str, forbidden: bool) -> None:
    assert forbidden_hostname(name) is forbidden
