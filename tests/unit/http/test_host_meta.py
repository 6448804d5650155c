"""XEP-0156 host-meta documents and the choice of advertised WebSocket URLs."""

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.http.host_meta import (
    WEBSOCKET_REL,
    XRD_NAMESPACE,
    host_meta_json,
    host_meta_xml,
    websocket_urls,
)

XRD = f"{{{XRD_NAMESPACE}}}"


def xml_links(document: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(document)
    assert root.tag == f"{XRD}XRD"
    assert all(child.tag == f"{XRD}Link" for child in root)
    return [(link.attrib["rel"], link.attrib["href"]) for link in root]


def json_links(document: bytes) -> list[tuple[str, str]]:
    data = json.loads(document)
    assert list(data) == ["links"]
    return [(link["rel"], link["href"]) for link in data["links"]]


URLS = ["wss://example.com/xmpp-websocket", "ws://example.com:8080/xmpp-websocket"]


def test_xml_document() -> None:
    document = host_meta_xml(URLS)
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert xml_links(document) == [(WEBSOCKET_REL, url) for url in URLS]


def test_json_document() -> None:
    assert host_meta_json(URLS) == (
        b'{"links":[{"rel":"urn:xmpp:alt-connections:websocket",'
        b'"href":"wss://example.com/xmpp-websocket"},'
        b'{"rel":"urn:xmpp:alt-connections:websocket",'
        b'"href":"ws://example.com:8080/xmpp-websocket"}]}'
    )
    assert json_links(host_meta_json(URLS)) == [(WEBSOCKET_REL, url) for url in URLS]


def test_no_urls() -> None:
    assert xml_links(host_meta_xml([])) == []
    assert json_links(host_meta_json([])) == []


def test_builders_escape() -> None:
    url = "wss://example.com/ws?a=1&b='2'&c=\"<x>\""
    assert xml_links(host_meta_xml([url])) == [(WEBSOCKET_REL, url)]
    assert json_links(host_meta_json([url])) == [(WEBSOCKET_REL, url)]
    assert b"<x>" not in host_meta_xml([url])


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "javascript:alert(1)",
        "wss://",
        "wss://example.com/a b",
        "wss://example.com/\n",
        "wss://example.com/\x00",
        "wss://b\u00fccher.example/",
        "",
    ],
)
def test_builders_refuse_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        host_meta_xml([url])
    with pytest.raises(ValueError, match="URL"):
        host_meta_json([url])


def test_builders_refuse_a_single_string() -> None:
    with pytest.raises(TypeError):
        host_meta_xml("wss://example.com/")
    with pytest.raises(TypeError):
        host_meta_json("wss://example.com/")


@pytest.mark.parametrize(
    ("host", "secure", "expected"),
    [
        # plain HTTP request straight to our HTTP port
        (
            "example.com:8080",
            False,
            ["wss://example.com:8443/xmpp-websocket", "ws://example.com:8080/xmpp-websocket"],
        ),
        # HTTPS request straight to our HTTPS port
        (
            "example.com:8443",
            True,
            ["wss://example.com:8443/xmpp-websocket", "ws://example.com:8080/xmpp-websocket"],
        ),
        # behind a TLS proxy on 443: the Host header has no port, keep it that way
        (
            "chat.example.com",
            True,
            ["wss://chat.example.com/xmpp-websocket", "ws://chat.example.com:8080/xmpp-websocket"],
        ),
        # plain proxy on 80
        (
            "example.com",
            False,
            ["wss://example.com:8443/xmpp-websocket", "ws://example.com/xmpp-websocket"],
        ),
        # default ports are left out
        (
            "example.com:443",
            True,
            ["wss://example.com/xmpp-websocket", "ws://example.com:8080/xmpp-websocket"],
        ),
        (
            "example.com:80",
            False,
            ["wss://example.com:8443/xmpp-websocket", "ws://example.com/xmpp-websocket"],
        ),
        # normalized: lower case, no final dot, surrounding blanks, empty port
        (
            " Example.COM.:8443\t",
            True,
            ["wss://example.com:8443/xmpp-websocket", "ws://example.com:8080/xmpp-websocket"],
        ),
        (
            "example.com:",
            False,
            ["wss://example.com:8443/xmpp-websocket", "ws://example.com/xmpp-websocket"],
        ),
        # addresses
        (
            "127.0.0.1:8080",
            False,
            ["wss://127.0.0.1:8443/xmpp-websocket", "ws://127.0.0.1:8080/xmpp-websocket"],
        ),
        (
            "[::1]:8443",
            True,
            ["wss://[::1]:8443/xmpp-websocket", "ws://[::1]:8080/xmpp-websocket"],
        ),
        (
            "[2001:DB8:0:0::1]",
            True,
            ["wss://[2001:db8::1]/xmpp-websocket", "ws://[2001:db8::1]:8080/xmpp-websocket"],
        ),
        ("[::1]:", False, ["wss://[::1]:8443/xmpp-websocket", "ws://[::1]/xmpp-websocket"]),
        (
            "localhost",
            False,
            ["wss://localhost:8443/xmpp-websocket", "ws://localhost/xmpp-websocket"],
        ),
    ],
)
def test_urls_follow_the_host_header(host: str, secure: bool, expected: list[str]) -> None:
    assert websocket_urls(host, "xmpp.example", 8080, 8443, secure) == expected


FALLBACK_PLAIN = ["wss://xmpp.example:8443/xmpp-websocket", "ws://xmpp.example:8080/xmpp-websocket"]


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "   ",
        "evil.com'/><Link rel='x' href='http://evil.com",
        'evil.com"><script>',
        "evil.com/path",
        "evil.com\r\nX-Injected: 1",
        "evil.com:8080/",
        "user@evil.com",
        "evil.com:99999",
        "evil.com:0",
        "evil.com:80:80",
        "evil.com:-1",
        "evil.com: 80",
        "evil.com:\u0661\u0662",  # Arabic-Indic digits
        "evil_host.com",
        "-evil.com",
        "evil-.com",
        "evil..com",
        ".",
        "a" * 64 + ".com",
        ".".join(["a" * 60] * 5),  # longer than 253
        "b\u00fccher.example",  # a Host header is ASCII (IDNA A-labels)
        "\u212aelvin.example",  # KELVIN SIGN lowers to ASCII 'k': refused before that
        "[::1",
        "[::1]x",
        "[not-an-address]:80",
        "[fe80::1%eth0]:80",
        "[fe80::1%25eth0]",
        "::1",
        "[127.0.0.1]",
    ],
)
def test_bad_host_header_falls_back_to_domain(host: str | None) -> None:
    assert websocket_urls(host, "xmpp.example", 8080, 8443, False) == FALLBACK_PLAIN
    assert websocket_urls(host, "xmpp.example", 8080, 8443, True) == FALLBACK_PLAIN


def test_listener_off() -> None:
    assert websocket_urls("example.com:8080", "x.example", 8080, 0, False) == [
        "ws://example.com:8080/xmpp-websocket"
    ]
    assert websocket_urls("example.com", "x.example", 0, 8443, True) == [
        "wss://example.com/xmpp-websocket"
    ]
    # a trusted TLS proxy in front of our plain port, no HTTPS listener, no Host header
    assert websocket_urls(None, "x.example", 8080, 0, True) == [
        "wss://x.example/xmpp-websocket",
        "ws://x.example:8080/xmpp-websocket",
    ]


def test_domain_is_idna_encoded() -> None:
    assert websocket_urls(None, "B\u00fccher.example", 80, 443, True) == [
        "wss://xn--bcher-kva.example/xmpp-websocket",
        "ws://xn--bcher-kva.example/xmpp-websocket",
    ]


def test_path() -> None:
    assert websocket_urls("example.com", "x.example", 80, 443, True, path="/ws") == [
        "wss://example.com/ws",
        "ws://example.com/ws",
    ]


@pytest.mark.parametrize(
    ("domain", "http_port", "https_port", "path"),
    [
        ("", 80, 443, "/ws"),
        ("bad domain", 80, 443, "/ws"),
        ("a..b", 80, 443, "/ws"),
        ("example.com", -1, 443, "/ws"),
        ("example.com", 80, 65536, "/ws"),
        ("example.com", 80, 443, "ws"),
        ("example.com", 80, 443, "/ws?x='"),
    ],
)
def test_caller_errors(domain: str, http_port: int, https_port: int, path: str) -> None:
    with pytest.raises(ValueError, match=r"host name|port number|absolute path"):
        websocket_urls(None, domain, http_port, https_port, True, path=path)


@given(st.one_of(st.none(), st.text(max_size=40)), st.booleans())
def test_fuzz_host_header_never_injects(host: str | None, secure: bool) -> None:
    urls = websocket_urls(host, "xmpp.example", 8080, 8443, secure)
    assert 1 <= len(urls) <= 2
    assert urls[0].startswith("wss://")
    for document, links in (
        (host_meta_xml(urls), xml_links),
        (host_meta_json(urls), json_links),
    ):
        assert links(document) == [(WEBSOCKET_REL, url) for url in urls]
    for url in urls:
        authority = url.split("/")[2]
        assert all(c.isascii() and (c.isalnum() or c in ".-:[]") for c in authority)
