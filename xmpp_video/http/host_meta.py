"""XEP-0156 discovery documents: ``/.well-known/host-meta`` and ``host-meta.json``.  [pure]

The handler for either path does::

    urls = websocket_urls(request.headers.get("host"), settings.xmpp_domain,
                          settings.http_port, settings.https_port, request.secure)
    body = host_meta_xml(urls)        # or host_meta_json(urls)

and answers 200 with ``HOST_META_XML_TYPE`` (or ``HOST_META_JSON_TYPE``), plus
``Access-Control-Allow-Origin: *`` (browser clients fetch it cross-origin) and
``Vary: Host`` (the body depends on the Host header, so a shared cache must not mix hosts).

The Host header is client input: ``websocket_urls`` accepts only ``hostname[:port]`` or
``[IPv6]:port`` made of ASCII letters, digits, '-' and '.', and otherwise advertises the
configured domain instead. The builders also refuse URLs that are not ``ws://``/``wss://`` in
printable ASCII, and escape what they write; a hostile Host header cannot inject markup.
"""

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "HOST_META_JSON_TYPE",
    "HOST_META_XML_TYPE",
    "WEBSOCKET_PATH",
    "WEBSOCKET_REL",
    "XRD_NAMESPACE",
    "host_meta_json",
    "host_meta_xml",
    "websocket_urls",
]

XRD_NAMESPACE: Final = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
WEBSOCKET_REL: Final = "urn:xmpp:alt-connections:websocket"
WEBSOCKET_PATH: Final = "/xmpp-websocket"
HOST_META_XML_TYPE: Final = "application/xrd+xml"
HOST_META_JSON_TYPE: Final = "application/json"

_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)
_PORT: Final = re.compile(r"[0-9]{1,5}", re.ASCII)
_PATH: Final = re.compile(r"/[A-Za-z0-9\-._~/]*", re.ASCII)
_URL: Final = re.compile(r"wss?://[\x21-\x7e]+", re.ASCII)
_DEFAULT_PORTS: Final = {"ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class _Authority:
    host: str  # lower-case host name, or "[v6 literal]"
    port: int | None  # as the client wrote it; None when absent


def _hostname(value: str) -> str | None:
    """Lower-case ASCII host name (LDH labels, optional final dot dropped), or None."""
    name = value.lower().removesuffix(".")
    if not name or len(name) > 253:
        return None
    if all(_LABEL.fullmatch(label) for label in name.split(".")):
        return name
    return None


def _parse_authority(value: str) -> _Authority | None:
    """Parse a Host header ``host[:port]`` (RFC 9110 §7.2); None if it is not acceptable."""
    value = value.strip(" \t")
    if not value.isascii():  # also before lower(): U+212A KELVIN SIGN lowers to 'k'
        return None
    if value.startswith("["):
        literal, bracket, rest = value[1:].partition("]")
        if not bracket or "%" in literal:  # no zone ids
            return None
        try:
            address = ipaddress.IPv6Address(literal)
        except ValueError:
            return None
        host = f"[{address.compressed}]"
    else:
        colon = value.find(":")
        name, rest = (value, "") if colon < 0 else (value[:colon], value[colon:])
        checked = _hostname(name)
        if checked is None:
            return None
        host = checked
    if not rest or rest == ":":  # RFC 3986: the port may be empty
        return _Authority(host, None)
    port = rest[1:]
    if not rest.startswith(":") or not _PORT.fullmatch(port) or not 0 < int(port) <= 65535:
        return None
    return _Authority(host, int(port))


def _domain_host(domain: str) -> str:
    """The configured XMPP domain as an ASCII host name (IDNA for internationalized names)."""
    try:
        ascii_name = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    name = _hostname(ascii_name)
    if name is None:
        raise ValueError(f"domain {domain!r} is not a valid host name")
    return name


def _url(scheme: str, host: str, port: int | None, path: str) -> str:
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}{path}"
    return f"{scheme}://{host}:{port}{path}"


def websocket_urls(
    host_header: str | None,
    domain: str,
    http_port: int,
    https_port: int,
    secure: bool,
    *,
    path: str = WEBSOCKET_PATH,
) -> list[str]:
    """Return the WebSocket URLs to advertise, most preferred (``wss://``) first.

    ``host_header``: the request's Host header (None if absent); ``secure``: the request came
    over TLS, or over plain HTTP from a trusted TLS proxy. A port of 0 means that listener is
    off.

    The scheme the request used keeps the Host header as it is (host and port): that is what
    the client reached, possibly through a proxy. The other scheme gets the same host name
    with our own port for it (``https_port`` for wss, ``http_port`` for ws), unless that port
    is 0. An absent or unacceptable Host header is replaced by ``domain`` with our ports.
    Default ports (443 for wss, 80 for ws) are left out of the URLs.

    Raises ``ValueError`` only for bad arguments from the caller (an invalid ``domain``, a
    port outside 0-65535, a ``path`` that is not a plain absolute path).
    """
    for port in (http_port, https_port):
        if not 0 <= port <= 65535:
            raise ValueError(f"{port} is not a port number")
    if not _PATH.fullmatch(path):
        raise ValueError(f"{path!r} is not a plain absolute path")
    fallback = _domain_host(domain)
    authority = None if host_header is None else _parse_authority(host_header)

    def url(scheme: str, own_port: int) -> str | None:
        used_scheme = "wss" if secure else "ws"
        if authority is not None and scheme == used_scheme:
            return _url(scheme, authority.host, authority.port, path)
        if scheme == used_scheme and own_port == 0:  # no listener of our own: a proxy's
            return _url(scheme, fallback, None, path)
        if own_port == 0:
            return None
        host = fallback if authority is None else authority.host
        return _url(scheme, host, own_port, path)

    candidates = (url("wss", https_port), url("ws", http_port))
    return [candidate for candidate in candidates if candidate is not None]


def _check_urls(urls: Sequence[str]) -> None:
    if isinstance(urls, str):  # a str is a Sequence[str] too: one URL per character
        raise TypeError("pass a sequence of URLs, not a single string")
    for url in urls:
        if not _URL.fullmatch(url):
            raise ValueError(f"{url!r} is not a ws:// or wss:// URL in printable ASCII")


def _xml_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def host_meta_xml(websocket_urls: Sequence[str]) -> bytes:
    """The XEP-0156 XRD document with one WebSocket ``<Link/>`` per URL, in order.

    Raises ``ValueError`` for a URL that is not ``ws://``/``wss://`` in printable ASCII.
    """
    _check_urls(websocket_urls)
    lines = ["<?xml version='1.0' encoding='utf-8'?>", f"<XRD xmlns='{XRD_NAMESPACE}'>"]
    lines.extend(
        f"  <Link rel='{WEBSOCKET_REL}' href='{_xml_attr(url)}'/>" for url in websocket_urls
    )
    lines.append("</XRD>\n")
    return "\n".join(lines).encode()


def host_meta_json(websocket_urls: Sequence[str]) -> bytes:
    """The XEP-0156 JSON document: ``{"links":[{"rel":...,"href":...}, ...]}``.

    Raises ``ValueError`` for a URL that is not ``ws://``/``wss://`` in printable ASCII.
    """
    _check_urls(websocket_urls)
    links = [{"rel": WEBSOCKET_REL, "href": url} for url in websocket_urls]
    return json.dumps({"links": links}, separators=(",", ":")).encode()
