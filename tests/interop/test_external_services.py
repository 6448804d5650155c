"""XEP-0215 External Service Discovery from slixmpp (an independent client stack).

Romeo logs in over real TLS and asks the server for its STUN/TURN services: the list, a type
filter, credentials for one service, and the errors. The TURN credentials are the TURN REST API
ones of `GET /api/turn/credentials` (checked here against the HMAC; coturn accepts them in
tests/integration/test_turn_coturn.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from slixmpp.exceptions import IqError

from tests.interop import extdisco
from tests.interop.slix import connected
from tests.server_fixtures import RunningServer, make_settings, running_server

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
]

SECRET = "extdisco-test-secret"
TTL = 3600
URIS = (
    "stun:stun.example.net:3478",
    "turn:turn.example.net:3478?transport=udp",
    "turn:turn.example.net:3478?transport=tcp",
    "turns:turn.example.net:5349?transport=tcp",
    "turn:[2001:db8::7]:3478?transport=udp",
)
STUN = {"type": "stun", "host": "stun.example.net", "port": "3478", "transport": "udp"}
TURN_ADDRESSES = [
    ("turn", "turn.example.net", "3478", "udp"),
    ("turn", "turn.example.net", "3478", "tcp"),
    ("turns", "turn.example.net", "5349", "tcp"),
    ("turn", "2001:db8::7", "3478", "udp"),
]


@pytest_asyncio.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[RunningServer]:
    settings = make_settings(
        tmp_path, database_url, turn_secret=SECRET, turn_uris=", ".join(URIS), turn_ttl=TTL
    )
    async with running_server(settings) as running:
        yield running


def address(service: dict[str, str]) -> tuple[str, str, str, str]:
    return (service["type"], service["host"], service["port"], service["transport"])


def check_turn_credentials(service: dict[str, str], jid: str, before: float) -> int:
    """The service carries valid TURN REST credentials for `jid`; returns their expiry."""
    assert service["restricted"] == "1"
    expiry_text, _, user = service["username"].partition(":")
    assert user == jid
    expiry = int(expiry_text)
    assert int(before) + TTL <= expiry <= int(time.time()) + TTL
    mac = hmac.new(SECRET.encode(), service["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(service["password"], validate=True) == mac
    expires = datetime.fromtimestamp(expiry, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert service["expires"] == expires
    return expiry


async def test_server_announces_extdisco(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid, presence=False) as romeo:
        info = await romeo.plugin["xep_0030"].get_info(jid=server.domain, timeout=10)
        assert extdisco.EXTDISCO in info["disco_info"]["features"]


async def test_services_list_with_credentials_for_turn(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid, presence=False) as romeo:
        before = time.time()
        listed = await extdisco.services(romeo, server.domain)
    assert [address(s) for s in listed] == [address(STUN), *TURN_ADDRESSES]
    assert listed[0] == STUN  # STUN: no credentials, not restricted
    expiries = {check_turn_credentials(s, jid, before) for s in listed[1:]}
    assert len(expiries) == 1  # one set of credentials per answer
    assert len({(s["username"], s["password"]) for s in listed[1:]}) == 1


async def test_type_filter(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid, presence=False) as romeo:
        before = time.time()
        turn = await extdisco.services(romeo, server.domain, "turn")
        turns = await extdisco.services(romeo, server.domain, "turns")
        stun = await extdisco.services(romeo, server.domain, "stun")
        ftp = await extdisco.services(romeo, server.domain, "ftp")
    assert [address(s) for s in turn] == [a for a in TURN_ADDRESSES if a[0] == "turn"]
    assert [address(s) for s in turns] == [("turns", "turn.example.net", "5349", "tcp")]
    for service in turn + turns:
        check_turn_credentials(service, jid, before)
    assert stun == [STUN]
    assert ftp == []


async def test_credentials_for_one_service(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid, presence=False) as romeo:
        before = time.time()
        udp_and_tcp = await extdisco.credentials(
            romeo, server.domain, type="turn", host="turn.example.net", port="3478"
        )
        tcp_only = await extdisco.credentials(
            romeo, server.domain, type="turn", host="TURN.example.net", transport="tcp"
        )
        turns = await extdisco.credentials(
            romeo, server.domain, type="turns", host="turn.example.net", port="5349"
        )
        ipv6 = await extdisco.credentials(romeo, server.domain, type="turn", host="[2001:db8::7]")
        stun = await extdisco.credentials(
            romeo, server.domain, type="stun", host="stun.example.net"
        )
    assert [address(s) for s in udp_and_tcp] == TURN_ADDRESSES[:2]
    assert [address(s) for s in tcp_only] == [TURN_ADDRESSES[1]]
    assert [address(s) for s in turns] == [TURN_ADDRESSES[2]]
    assert [address(s) for s in ipv6] == [TURN_ADDRESSES[3]]
    for service in udp_and_tcp + tcp_only + turns + ipv6:
        check_turn_credentials(service, jid, before)
    assert stun == [STUN]


@pytest.mark.parametrize(
    ("service", "condition"),
    [
        ({"type": "turn", "host": "elsewhere.example.net"}, "item-not-found"),
        ({"type": "turn", "host": "turn.example.net", "port": "3479"}, "item-not-found"),
        ({"type": "stuns", "host": "stun.example.net"}, "item-not-found"),
        ({"type": "turn"}, "bad-request"),
        ({"host": "turn.example.net"}, "bad-request"),
        ({"type": "turn", "host": "turn.example.net", "port": "x"}, "bad-request"),
    ],
)
async def test_credentials_errors(
    server: RunningServer, service: dict[str, str], condition: str
) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid, presence=False) as romeo:
        with pytest.raises(IqError) as raised:
            await extdisco.credentials(romeo, server.domain, **service)
    assert raised.value.iq["error"]["condition"] == condition


async def test_credentials_without_a_service_is_a_bad_request(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid, presence=False) as romeo:
        with pytest.raises(IqError) as raised:
            await extdisco.ask(romeo, server.domain, extdisco.Element(extdisco.CREDENTIALS))
    assert raised.value.iq["error"]["condition"] == "bad-request"


async def test_set_is_not_a_request(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid, presence=False) as romeo:
        with pytest.raises(IqError) as raised:
            await extdisco.ask(
                romeo, server.domain, extdisco.Element(extdisco.SERVICES), type_="set"
            )
    assert raised.value.iq["error"]["condition"] == "service-unavailable"


async def test_each_user_gets_credentials_in_its_own_name(server: RunningServer) -> None:
    romeo_jid = await server.add_user("romeo")
    juliet_jid = await server.add_user("juliet")
    async with (
        connected(server, romeo_jid, presence=False) as romeo,
        connected(server, juliet_jid, presence=False) as juliet,
    ):
        for client, jid in ((romeo, romeo_jid), (juliet, juliet_jid)):
            before = time.time()
            turn = await extdisco.services(client, server.domain, "turn")
            for service in turn:
                check_turn_credentials(service, jid, before)


async def test_no_turn_uris_is_an_empty_list(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, turn_secret=SECRET, turn_uris="")
    async with running_server(settings) as server:
        jid = await server.add_user("romeo")
        async with connected(server, jid, presence=False) as romeo:
            assert await extdisco.services(romeo, server.domain) == []
            assert await extdisco.services(romeo, server.domain, "turn") == []
            with pytest.raises(IqError) as raised:
                await extdisco.credentials(
                    romeo, server.domain, type="turn", host="turn.example.net"
                )
    assert raised.value.iq["error"]["condition"] == "item-not-found"
