"""XEP-0077 before authentication, at the stream level: the feature and the iqs c2s lets through.

Registration is offered only on encrypted streams; any other iq before authentication still
closes the stream with <not-authorized/>.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.integration.raw import HEADER, RawPeer
from tests.server_fixtures import RunningServer, make_settings, running_server

pytestmark = pytest.mark.asyncio

REGISTER_FEATURE = b"<register xmlns='http://jabber.org/features/iq-register'"
NOT_AUTHORIZED = b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'"


@pytest_asyncio.fixture
async def open_server(tmp_path: Path, database_url: str) -> AsyncIterator[RunningServer]:
    settings = make_settings(tmp_path, database_url, registration=True)
    async with running_server(settings) as server:
        yield server


async def _tls_peer(server: RunningServer) -> RawPeer:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.tls_port, ssl=server.client_ssl_context(), server_hostname="localhost"
    )
    return RawPeer(reader, writer)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_register_iqs_before_login_on_tls(open_server: RunningServer) -> None:
    peer = await _tls_peer(open_server)
    try:
        peer.send(HEADER)
        features = await peer.read_until(b"</stream:features>")
        assert REGISTER_FEATURE in features

        peer.send(b"<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>")
        form = await peer.read_until(b"</iq>")
        assert b"type='result'" in form
        assert b"<username/><password/>" in form

        peer.send(
            b"<iq type='get' id='r2' to='elsewhere.example'>"
            b"<query xmlns='jabber:iq:register'/></iq>"
        )
        assert b"<service-unavailable" in await peer.read_until(b"</iq>")

        peer.send(
            b"<iq type='set' id='r3'><query xmlns='jabber:iq:register'><remove/></query></iq>"
        )
        assert b"<unexpected-request" in await peer.read_until(b"</iq>")

        peer.send(
            b"<iq type='set' id='r4'><query xmlns='jabber:iq:register'>"
            b"<username>newcomer</username><password>long enough secret</password>"
            b"</query></iq>"
        )
        assert b"type='result'" in await peer.read_until(b"id='r4'")
        assert await open_server.server.accounts.exists("newcomer")

        peer.send(b"<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert NOT_AUTHORIZED in await peer.read_until_closed()
    finally:
        peer.close()


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_no_registration_before_tls(open_server: RunningServer) -> None:
    peer = await RawPeer.connect(open_server.c2s_port)
    try:
        peer.send(HEADER)
        features = await peer.read_until(b"</stream:features>")
        assert b"<starttls" in features
        assert REGISTER_FEATURE not in features
        peer.send(b"<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>")
        assert NOT_AUTHORIZED in await peer.read_until_closed()
    finally:
        peer.close()


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_no_registration_on_a_plain_stream_even_without_require_tls(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, registration=True, require_tls=False)
    async with running_server(settings) as server:
        peer = await RawPeer.connect(server.c2s_port)
        try:
            peer.send(HEADER)
            features = await peer.read_until(b"</stream:features>")
            assert b"SCRAM-SHA-256" in features  # authentication is offered...
            assert REGISTER_FEATURE not in features  # ...registration (a clear password) is not
            peer.send(b"<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>")
            assert NOT_AUTHORIZED in await peer.read_until_closed()
        finally:
            peer.close()
