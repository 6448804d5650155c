"""XEP-0215 answers built from TURN_URIS: services, type filter, credentials, errors."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import cast
from xml.etree.ElementTree import Element, SubElement

import pytest

from xmpp_video.config import ConfigError, Settings
from xmpp_video.core.iq import IqDispatcher, IqRequest, IqTarget
from xmpp_video.core.server import Disco, Server
from xmpp_video.jid import JID
from xmpp_video.modules.external_services import (
    CREDENTIALS,
    SERVICE,
    SERVICES,
    ExternalServices,
    ExternalServicesModule,
    service_element,
    xep0082_datetime,
)
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.turn import turn_credentials
from xmpp_video.turn_uris import parse_turn_uri, parse_turn_uris
from xmpp_video.xml.writer import serialize

SECRET = "north-wind-secret"
USER = "alice@example.com"
NOW = 1_700_000_000.5
TTL = 600
URIS = (
    "stun:stun.example.com:3478",
    "turn:turn.example.com:3478?transport=udp",
    "turn:turn.example.com:3478?transport=tcp",
    "turns:turn.example.com:5349?transport=tcp",
    "turn:[2001:db8::1]:3478?transport=udp",
)
CATALOG = ExternalServices(parse_turn_uris(URIS), SECRET, TTL)
CREDS = turn_credentials(SECRET, USER, TTL, URIS, NOW)


def attrs(el: Element) -> list[dict[str, str]]:
    assert all(child.tag == SERVICE for child in el)
    return [dict(child.attrib) for child in el]


def turn_attrs(host: str, port: str, transport: str, type_: str = "turn") -> dict[str, str]:
    return {
        "type": type_,
        "host": host,
        "port": port,
        "transport": transport,
        "restricted": "1",
        "username": CREDS.username,
        "password": CREDS.password,
        "expires": "2023-11-14T22:23:20Z",
    }


STUN_ATTRS = {"type": "stun", "host": "stun.example.com", "port": "3478", "transport": "udp"}
ALL = [
    STUN_ATTRS,
    turn_attrs("turn.example.com", "3478", "udp"),
    turn_attrs("turn.example.com", "3478", "tcp"),
    turn_attrs("turn.example.com", "5349", "tcp", "turns"),
    turn_attrs("2001:db8::1", "3478", "udp"),
]


def services_request(type_: str | None = None) -> Element:
    el = Element(SERVICES)
    if type_ is not None:
        el.set("type", type_)
    return el


def credentials_request(*services: dict[str, str]) -> Element:
    el = Element(CREDENTIALS)
    for service in services:
        SubElement(el, SERVICE, service)
    return el


def test_expiry_is_xep0082_utc() -> None:
    assert xep0082_datetime(1_700_000_600) == "2023-11-14T22:23:20Z"
    assert xep0082_datetime(0) == "1970-01-01T00:00:00Z"


def test_credentials_are_the_http_api_ones() -> None:
    assert CREDS.username == f"1700000600:{USER}"
    assert CATALOG.credentials_for(USER, NOW) == CREDS


def test_all_services_in_configured_order() -> None:
    answer = CATALOG.services_answer(services_request(), USER, NOW)
    assert answer.tag == SERVICES
    assert "type" not in answer.attrib
    assert attrs(answer) == ALL


def test_serialized_in_the_extdisco_namespace() -> None:
    answer = CATALOG.services_answer(services_request("stun"), USER, NOW)
    assert serialize(answer) == (
        b"<services xmlns='urn:xmpp:extdisco:2' type='stun'><service type='stun'"
        b" host='stun.example.com' port='3478' transport='udp'/></services>"
    )


def test_password_matches_the_openssl_vector_of_test_turn() -> None:
    # the same username and secret as tests/unit/test_turn.py's known vector
    assert ALL[1]["password"] == "bTW03WeEpeqBwJhzGYVCa0ui0tQ="


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("turn", [ALL[1], ALL[2], ALL[4]]),
        ("turns", [ALL[3]]),
        ("stun", [STUN_ATTRS]),
        ("TURN", [ALL[1], ALL[2], ALL[4]]),
        ("stuns", []),
        ("ftp", []),
    ],
)
def test_type_filter_echoes_the_type(type_: str, expected: list[dict[str, str]]) -> None:
    answer = CATALOG.services_answer(services_request(type_), USER, NOW)
    assert answer.get("type") == type_
    assert attrs(answer) == expected


def test_no_turn_uris_is_an_empty_list_without_signing() -> None:
    empty = ExternalServices((), "", TTL)  # an empty secret would raise if anything were signed
    answer = empty.services_answer(services_request(), USER, NOW)
    assert answer.tag == SERVICES
    assert len(answer) == 0
    assert answer.attrib == {}


def test_stun_only_needs_no_secret() -> None:
    stun = ExternalServices(parse_turn_uris(["stun:[::1]"]), "", TTL)
    answer = stun.services_answer(services_request(), USER, NOW)
    assert attrs(answer) == [{"type": "stun", "host": "::1", "port": "3478", "transport": "udp"}]


def test_service_element_without_credentials_for_turn_has_no_restricted_flag() -> None:
    el = service_element(parse_turn_uri("turn:t.example"), None)
    assert el.attrib == {"type": "turn", "host": "t.example", "port": "3478", "transport": "udp"}


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        ([{"type": "turn", "host": "turn.example.com", "port": "3478"}], [ALL[1], ALL[2]]),
        ([{"type": "turn", "host": "turn.example.com"}], [ALL[1], ALL[2]]),
        (
            [{"type": "turn", "host": "turn.example.com", "port": "3478", "transport": "tcp"}],
            [ALL[2]],
        ),
        ([{"type": "turns", "host": "TURN.example.com", "port": "5349"}], [ALL[3]]),
        ([{"type": "turn", "host": "[2001:DB8::1]"}], [ALL[4]]),
        ([{"type": "turn", "host": "2001:db8:0::1", "port": "3478"}], [ALL[4]]),
        ([{"type": "stun", "host": "stun.example.com"}], [STUN_ATTRS]),
        (
            [
                {"type": "turns", "host": "turn.example.com"},
                {"type": "turn", "host": "turn.example.com", "transport": "udp"},
            ],
            [ALL[1], ALL[3]],
        ),
    ],
)
def test_credentials_for_matching_services(
    selectors: list[dict[str, str]], expected: list[dict[str, str]]
) -> None:
    answer = CATALOG.credentials_answer(credentials_request(*selectors), USER, NOW)
    assert answer.tag == CREDENTIALS
    assert attrs(answer) == expected


@pytest.mark.parametrize(
    ("selectors", "condition", "text"),
    [
        (
            [{"type": "turn", "host": "other.example.com"}],
            StanzaErrorCondition.ITEM_NOT_FOUND,
            "no turn service at other.example.com",
        ),
        (
            [{"type": "turn", "host": "turn.example.com", "port": "3479"}],
            StanzaErrorCondition.ITEM_NOT_FOUND,
            "no turn service",
        ),
        (
            [{"type": "turns", "host": "turn.example.com", "transport": "udp"}],
            StanzaErrorCondition.ITEM_NOT_FOUND,
            "no turns service",
        ),
        (
            [{"type": "turn", "host": "turn.example.com"}, {"type": "ftp", "host": "x"}],
            StanzaErrorCondition.ITEM_NOT_FOUND,
            "no ftp service at x",
        ),
        ([], StanzaErrorCondition.BAD_REQUEST, "needs a <service/>"),
        ([{"host": "turn.example.com"}], StanzaErrorCondition.BAD_REQUEST, "'type' and 'host'"),
        ([{"type": "turn"}], StanzaErrorCondition.BAD_REQUEST, "'type' and 'host'"),
        (
            [{"type": "turn", "host": "turn.example.com", "port": "34x"}],
            StanzaErrorCondition.BAD_REQUEST,
            "not a number",
        ),
        (
            [{"type": "turn", "host": "turn.example.com", "port": "-1"}],
            StanzaErrorCondition.BAD_REQUEST,
            "not a number",
        ),
        (  # more digits than int() converts (4300): a bad request, not an internal error
            [{"type": "turn", "host": "turn.example.com", "port": "9" * 5000}],
            StanzaErrorCondition.BAD_REQUEST,
            "not a number",
        ),
        (
            [{"type": "turn", "host": "turn.example.com", "port": "99999"}],
            StanzaErrorCondition.ITEM_NOT_FOUND,
            "no turn service",
        ),
    ],
)
def test_credentials_errors(
    selectors: list[dict[str, str]], condition: StanzaErrorCondition, text: str
) -> None:
    with pytest.raises(StanzaError) as info:
        CATALOG.credentials_answer(credentials_request(*selectors), USER, NOW)
    assert info.value.condition == condition
    assert text in info.value.text


def test_service_children_elsewhere_are_not_selectors() -> None:
    request = credentials_request()
    SubElement(SubElement(request, "{urn:example}wrapper"), SERVICE, {"type": "turn", "host": "x"})
    with pytest.raises(StanzaError) as info:
        CATALOG.credentials_answer(request, USER, NOW)
    assert info.value.condition == StanzaErrorCondition.BAD_REQUEST


# -- the module, with a real IqDispatcher and a stand-in for the server ------------------------


@dataclass
class FakeServer:
    settings: Settings
    iq: IqDispatcher = field(default_factory=IqDispatcher)
    disco: Disco = field(default_factory=Disco)

    @property
    def domain(self) -> str:
        return self.settings.xmpp_domain


def module_with(**settings: object) -> tuple[ExternalServicesModule, FakeServer]:
    base = Settings(xmpp_domain="example.com", turn_secret=SECRET, turn_ttl=TTL)
    server = FakeServer(dataclasses.replace(base, **settings))  # type: ignore[arg-type]
    module = ExternalServicesModule(clock=lambda: NOW)
    module.setup(cast(Server, server))
    return module, server


async def ask(server: FakeServer, payload: Element, sender: str = f"{USER}/phone") -> Element:
    stanza = Element(
        "{jabber:client}iq", {"type": "get", "id": "x1", "from": sender, "to": "example.com"}
    )
    stanza.append(payload)
    request = IqRequest(stanza, payload, JID.parse(sender), JID.parse("example.com"), None)
    replies: list[Element] = []
    pending = server.iq.dispatch(request, IqTarget.SERVER, replies.append)
    assert pending is not None
    await pending
    assert len(replies) == 1
    return replies[0]


def error_condition(reply: Element) -> str:
    assert reply.get("type") == "error", ET.tostring(reply)
    error = reply.find("{jabber:client}error")
    assert error is not None
    return error[0].tag.partition("}")[2]


def test_module_announces_the_feature_and_handles_both_requests() -> None:
    _, server = module_with(turn_uris=",".join(URIS))
    assert ns.EXTDISCO in server.disco.server_features
    assert server.iq.handles("get", SERVICES, IqTarget.SERVER)
    assert server.iq.handles("get", CREDENTIALS, IqTarget.SERVER)
    assert not server.iq.handles("set", SERVICES, IqTarget.SERVER)
    assert not server.iq.handles("get", SERVICES, IqTarget.ACCOUNT)


def test_module_refuses_invalid_turn_uris() -> None:
    with pytest.raises(ConfigError, match=r"^TURN_URIS: 'turn:host:port': port 'port'"):
        module_with(turn_uris="stun:ok.example, turn:host:port")


@pytest.mark.asyncio
async def test_module_answers_with_the_bare_jid_of_the_sender() -> None:
    _, server = module_with(turn_uris=",".join(URIS))
    reply = await ask(server, services_request())
    assert (reply.get("type"), reply.get("id"), reply.get("to")) == (
        "result",
        "x1",
        f"{USER}/phone",
    )
    assert attrs(reply[0]) == ALL
    reply = await ask(server, credentials_request({"type": "turns", "host": "turn.example.com"}))
    assert attrs(reply[0]) == [ALL[3]]


@pytest.mark.asyncio
async def test_module_empty_list_without_turn_uris() -> None:
    _, server = module_with(turn_uris="")
    reply = await ask(server, services_request())
    assert reply.get("type") == "result"
    assert reply[0].tag == SERVICES
    assert len(reply[0]) == 0
    reply = await ask(server, credentials_request({"type": "turn", "host": "turn.example.com"}))
    assert error_condition(reply) == "item-not-found"


@pytest.mark.asyncio
@pytest.mark.parametrize("sender", ["example.com", "mallory@elsewhere.example/x"])
async def test_module_forbids_senders_that_are_not_local_accounts(sender: str) -> None:
    _, server = module_with(turn_uris=",".join(URIS))
    reply = await ask(server, services_request(), sender=sender)
    assert error_condition(reply) == "forbidden"
    reply = await ask(server, credentials_request({"type": "turn", "host": "x"}), sender=sender)
    assert error_condition(reply) == "forbidden"
