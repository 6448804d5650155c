"""STUN/TURN URIs of TURN_URIS (RFC 7064, RFC 7065) parsed into XEP-0215 services."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.config import ConfigError, load_settings
from xmpp_video.turn_uris import (
    ExternalService,
    InvalidTurnUri,
    ServiceType,
    Transport,
    normalize_host,
    parse_turn_uri,
    parse_turn_uris,
)

STUN, STUNS, TURN, TURNS = ServiceType.STUN, ServiceType.STUNS, ServiceType.TURN, ServiceType.TURNS
UDP, TCP = Transport.UDP, Transport.TCP


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("turn:turn.example.com:3478?transport=udp", (TURN, "turn.example.com", 3478, UDP)),
        ("turn:turn.example.com:3478?transport=tcp", (TURN, "turn.example.com", 3478, TCP)),
        ("turns:turn.example.com:5349?transport=tcp", (TURNS, "turn.example.com", 5349, TCP)),
        ("turns:turn.example.com?transport=udp", (TURNS, "turn.example.com", 5349, UDP)),
        ("stun:stun.example.com:19302", (STUN, "stun.example.com", 19302, UDP)),
        ("stuns:stun.example.com", (STUNS, "stun.example.com", 5349, TCP)),
        # defaults: port 3478 / 5349, transport UDP for turn and stun, TCP (TLS) for turns
        ("turn:example.com", (TURN, "example.com", 3478, UDP)),
        ("turns:example.com", (TURNS, "example.com", 5349, TCP)),
        ("stun:example.com", (STUN, "example.com", 3478, UDP)),
        ("turn:127.0.0.1:40000?transport=udp", (TURN, "127.0.0.1", 40000, UDP)),
        ("turn:[2001:DB8:0:0::1]:3478?transport=udp", (TURN, "2001:db8::1", 3478, UDP)),
        ("stun:[::1]", (STUN, "::1", 3478, UDP)),
        # schemes, host names and the transport parameter are case-insensitive
        ("TURN:Turn.Example.COM:3478?Transport=UDP", (TURN, "turn.example.com", 3478, UDP)),
        ("turn:localhost:1", (TURN, "localhost", 1, UDP)),
        ("turn:localhost:65535", (TURN, "localhost", 65535, UDP)),
        ("turn:a-b.c-d.example.:3478", (TURN, "a-b.c-d.example.", 3478, UDP)),
    ],
)
def test_valid_uris(uri: str, expected: tuple[ServiceType, str, int, Transport]) -> None:
    service = parse_turn_uri(uri)
    assert (service.type, service.host, service.port, service.transport) == expected
    assert service.uri == uri
    assert service.needs_credentials == (service.type in (TURN, TURNS))


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("turn.example.com:3478", "unknown scheme 'turn.example.com'"),
        ("turn.example.com", "no scheme"),
        ("", "no scheme"),
        ("http://turn.example.com", "unknown scheme 'http'"),
        ("turn://turn.example.com:3478", "no '//'"),
        ("turn:", "no host"),
        ("turn::3478", "no host"),
        ("turn:turn.example.com:", "port '' is not a number"),
        ("turn:turn.example.com:34x", "port '34x' is not a number"),
        ("turn:turn.example.com:-1", "port '-1' is not a number"),
        ("turn:turn.example.com:0", "port 0 is not between 1 and 65535"),
        ("turn:turn.example.com:65536", "port 65536 is not between 1 and 65535"),
        ("turn:turn.example.com:3478?transport=sctp", "transport 'sctp' is not udp or tcp"),
        ("turn:turn.example.com:3478?transport=", "transport '' is not udp or tcp"),
        ("turn:turn.example.com:3478?transport", "the only query allowed"),
        ("turn:turn.example.com:3478?proto=udp", "the only query allowed"),
        ("turn:turn.example.com?transport=udp&x=1", "transport 'udp&x=1' is not udp or tcp"),
        ("stun:stun.example.com:3478?transport=udp", "stun: URI takes no query"),
        ("stuns:stun.example.com?transport=tcp", "stuns: URI takes no query"),
        ("turn:user:pw@turn.example.com", "user info"),
        ("turn:turn.example.com:3478/path", "a path"),
        ("turn:turn.example.com#frag", "a fragment"),
        ("turn:2001:db8::1", "IPv6 address must be written in brackets"),
        ("turn:[2001:db8::1", "without a closing ']'"),
        ("turn:[not-v6]:3478", "'not-v6' is not an IPv6 address"),
        ("turn:[::1]3478", "unexpected '3478' after the IPv6 address"),
        ("turn:256.1.1.1", "'256.1.1.1' is not an IPv4 address"),
        ("turn:1.2.3", "'1.2.3' is not an IPv4 address"),
        ("turn:under_score.example", "is not a host name"),
        ("turn:-lead.example", "is not a host name"),
        ("turn:a..b", "is not a host name"),
        ("turn:tûrn.example", "is not a host name"),
        ("turn:\u212a.example", "is not a host name"),  # KELVIN SIGN lowers to 'k'
        ("turn:" + "a" * 64 + ".example", "is not a host name"),
    ],
)
def test_invalid_uris_say_why(uri: str, reason: str) -> None:
    with pytest.raises(InvalidTurnUri) as info:
        parse_turn_uri(uri)
    message = str(info.value)
    assert message.startswith(repr(uri) + ": "), message
    assert reason in message, message


def test_parse_many_keeps_order_and_stops_at_the_first_invalid() -> None:
    uris = ["stun:a.example", "turn:b.example?transport=tcp", "turns:c.example"]
    assert [s.host for s in parse_turn_uris(uris)] == ["a.example", "b.example", "c.example"]
    assert parse_turn_uris([]) == ()
    with pytest.raises(InvalidTurnUri, match="'turn:bad:port'"):
        parse_turn_uris([*uris, "turn:bad:port", "also bad"])


def test_settings_refuse_an_invalid_turn_uri_at_startup() -> None:
    environ = {"TURN_URIS": "turn:ok.example:3478?transport=udp, turn://bad.example"}
    with pytest.raises(ConfigError, match=r"^TURN_URIS: 'turn://bad.example': no '//'"):
        load_settings(environ=environ)


def test_settings_accept_valid_turn_uris() -> None:
    uris = "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349, stun:[::1]"
    settings = load_settings(environ={"TURN_URIS": uris})
    assert len(parse_turn_uris(settings.turn_uri_list)) == 3


@pytest.mark.parametrize(
    ("host", "normal"),
    [
        ("Turn.Example.com", "turn.example.com"),
        ("[2001:DB8::0:1]", "2001:db8::1"),
        ("2001:db8:0::1", "2001:db8::1"),
        ("127.0.0.1", "127.0.0.1"),
        (" x.example ", "x.example"),
    ],
)
def test_normalize_host(host: str, normal: str) -> None:
    assert normalize_host(host) == normal


# -- properties ------------------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_name = (
    st.lists(_label, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda name: not all(label.isdigit() for label in name.split(".")))
)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")


@given(
    type_=st.sampled_from(list(ServiceType)),
    host=st.one_of(_name, _ipv4, _ipv6),
    port=st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
    transport=st.one_of(st.none(), st.sampled_from(list(Transport))),
    upper=st.booleans(),
)
def test_round_trip(
    type_: ServiceType, host: str, port: int | None, transport: Transport | None, upper: bool
) -> None:
    is_stun = type_ in (STUN, STUNS)
    uri = f"{type_.upper() if upper else type_}:{host}"
    if port is not None:
        uri += f":{port}"
    if transport is not None and not is_stun:
        uri += f"?transport={transport}"
    service = parse_turn_uri(uri)
    expected_host = host.strip("[]")
    if expected_host.count(":") or expected_host.replace(".", "").isdigit():
        expected_host = ipaddress.ip_address(expected_host).compressed
    default_port = 5349 if type_ in (STUNS, TURNS) else 3478
    default_transport = TCP if type_ in (STUNS, TURNS) else UDP
    assert service == ExternalService(
        type_,
        expected_host,
        default_port if port is None else port,
        default_transport if transport is None or is_stun else transport,
        uri,
    )
    assert normalize_host(host) == service.host


def _parsed_or_refused(text: str) -> None:
    """Every input parses into a usable service or raises InvalidTurnUri naming it."""
    message = ""
    try:
        service = parse_turn_uri(text)
    except InvalidTurnUri as exc:
        message = str(exc)
    if message:
        assert message.startswith(repr(text) + ": ")
    else:
        assert 1 <= service.port <= 65535
        assert service.host
        assert service.uri == text


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_invalid_turn_uri(text: str) -> None:
    _parsed_or_refused(text)


@given(
    scheme=st.sampled_from(["stun", "turn", "turns", "TURN"]),
    rest=st.text(alphabet="abc.-:[]?=@/#0123456789tcpudransport", max_size=40),
)
def test_uri_like_text_parses_or_raises_invalid_turn_uri(scheme: str, rest: str) -> None:
    _parsed_or_refused(f"{scheme}:{rest}")
