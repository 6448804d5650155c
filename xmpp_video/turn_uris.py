"""STUN and TURN URIs (RFC 7064, RFC 7065) as written in TURN_URIS, parsed into services.

Pure: no I/O. The grammar accepted, with RFC 3986 ``host`` and ``port``::

    stun:host[:port]        stuns:host[:port]                     (RFC 7064)
    turn:host[:port][?transport=udp|tcp]                          (RFC 7065)
    turns:host[:port][?transport=udp|tcp]

* schemes and the ``transport`` parameter are case-insensitive (ABNF strings);
* ``host`` is a DNS name (letters, digits, hyphens, dots; ASCII: write IDNs as punycode), an
  IPv4 address, or an IPv6 address in brackets (``turn:[2001:db8::1]:3478``); it is kept in
  lower case, IPv6 without brackets and in its compressed form (XEP-0215's ``host``);
* the default port is 3478 for ``stun``/``turn`` and 5349 for ``stuns``/``turns``;
* the default transport is UDP for ``stun``/``turn`` and TCP for ``stuns``/``turns`` (TLS); a
  ``stun``/``stuns`` URI takes no query; transports other than ``udp`` and ``tcp`` (RFC 7065's
  ``transport-ext``) are refused, since no client we serve knows another one.

Anything else (``//`` after the scheme, user info, a path, a fragment, an unknown parameter, port 0)
raises ``InvalidTurnUri`` whose message names the URI and what is wrong with it: the settings
refuse such a TURN_URIS at startup (``ConfigError``), rather than hand clients a service
they cannot use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ExternalService",
    "InvalidTurnUri",
    "ServiceType",
    "Transport",
    "normalize_host",
    "parse_turn_uri",
    "parse_turn_uris",
]


class ServiceType(StrEnum):
    """The URI scheme, which is also the XEP-0215 service ``type``."""

    STUN = "stun"
    STUNS = "stuns"
    TURN = "turn"
    TURNS = "turns"


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"


DEFAULT_PORT = {
    ServiceType.STUN: 3478,
    ServiceType.TURN: 3478,
    ServiceType.STUNS: 5349,
    ServiceType.TURNS: 5349,
}
DEFAULT_TRANSPORT = {
    ServiceType.STUN: Transport.UDP,
    ServiceType.TURN: Transport.UDP,
    ServiceType.STUNS: Transport.TCP,
    ServiceType.TURNS: Transport.TCP,
}

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


class InvalidTurnUri(ValueError):
    """A TURN_URIS entry is not a STUN/TURN URI we can hand out; the message says why."""


@dataclass(frozen=True, slots=True)
class ExternalService:
    """One STUN or TURN service: what XEP-0215 announces for a URI of TURN_URIS."""

    type: ServiceType
    host: str
    """lower case; an IP address in its canonical form, IPv6 without brackets"""
    port: int
    transport: Transport
    uri: str
    """the URI as configured"""

    @property
    def needs_credentials(self) -> bool:
        """TURN allocations need (TURN REST API) credentials; STUN binding requests do not."""
        return self.type in (ServiceType.TURN, ServiceType.TURNS)


def normalize_host(host: str) -> str:
    """``host`` as ``ExternalService.host`` holds it: lower case, IPv6 unbracketed, compressed.

    Does not validate: used to compare a host a client sent with the configured ones.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


def parse_turn_uri(uri: str) -> ExternalService:
    """Parse one ``stun:``/``stuns:``/``turn:``/``turns:`` URI; raises ``InvalidTurnUri``."""
    scheme, colon, rest = uri.partition(":")
    if not colon:
        raise _invalid(uri, "no scheme (expected stun:, stuns:, turn: or turns:)")
    try:
        type_ = ServiceType(scheme.lower())
    except ValueError:
        raise _invalid(
            uri, f"unknown scheme {scheme!r} (expected stun, stuns, turn or turns)"
        ) from None
    if rest.startswith("//"):
        raise _invalid(uri, "no '//' after the scheme (RFC 7064/7065: turn:host:port)")
    if "#" in rest:
        raise _invalid(uri, "a fragment ('#') is not allowed")
    authority, question, query = rest.partition("?")
    transport = DEFAULT_TRANSPORT[type_]
    if question:
        if type_ in (ServiceType.STUN, ServiceType.STUNS):
            raise _invalid(uri, f"a {type_}: URI takes no query (RFC 7064)")
        transport = _parse_query(uri, query)
    host, port = _parse_authority(uri, authority, DEFAULT_PORT[type_])
    return ExternalService(type_, host, port, transport, uri)


def parse_turn_uris(uris: Iterable[str]) -> tuple[ExternalService, ...]:
    """Parse every URI in order; raises ``InvalidTurnUri`` for the first invalid one."""
    return tuple(parse_turn_uri(uri) for uri in uris)


def _invalid(uri: str, why: str) -> InvalidTurnUri:
    return InvalidTurnUri(f"{uri!r}: {why}")


def _parse_query(uri: str, query: str) -> Transport:
    key, equals, value = query.partition("=")
    if key.lower() != "transport" or not equals:
        raise _invalid(uri, "the only query allowed is ?transport=udp or ?transport=tcp")
    try:
        return Transport(value.lower())
    except ValueError:
        raise _invalid(uri, f"transport {value!r} is not udp or tcp") from None


def _parse_authority(uri: str, authority: str, default_port: int) -> tuple[str, int]:
    if "@" in authority:
        raise _invalid(uri, "user info ('@') is not allowed: credentials are generated")
    if "/" in authority:
        raise _invalid(uri, "a path ('/') is not allowed")
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise _invalid(uri, "'[' without a closing ']'")
        host = _ipv6(uri, authority[1:end])
        after = authority[end + 1 :]
        if after and not after.startswith(":"):
            raise _invalid(uri, f"unexpected {after!r} after the IPv6 address")
        port_text = after[1:] if after else None
    else:
        host_text, colon, port_part = authority.partition(":")
        if ":" in port_part:
            raise _invalid(uri, "an IPv6 address must be written in brackets: turn:[2001:db8::1]")
        host = _name_or_ipv4(uri, host_text)
        port_text = port_part if colon else None
    return host, _port(uri, port_text, default_port)


def _ipv6(uri: str, text: str) -> str:
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise _invalid(uri, f"{text!r} is not an IPv6 address") from None


def _name_or_ipv4(uri: str, text: str) -> str:
    if not text:
        raise _invalid(uri, "no host")
    name = text.lower()
    labels = name.removesuffix(".").split(".")
    valid = text.isascii() and len(name) <= 253  # isascii: 'K' (Kelvin) lowers to 'k'
    if not valid or not all(_LABEL.match(label) for label in labels):
        raise _invalid(uri, f"{text!r} is not a host name or an IPv4 address")
    if all(_DIGITS.match(label) for label in labels):
        try:
            return ipaddress.IPv4Address(name).compressed
        except ValueError:
            raise _invalid(uri, f"{text!r} is not an IPv4 address") from None
    return name


def _port(uri: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    if not _DIGITS.match(text):
        raise _invalid(uri, f"port {text!r} is not a number")
    port = int(text)
    if not 0 < port <= 65535:
        raise _invalid(uri, f"port {port} is not between 1 and 65535")
    return port
