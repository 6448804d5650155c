"""SASL OAUTHBEARER (RFC 7628) with the HTTP API's access token, over WebSocket and TLS."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

import httpx
import pytest

from tests.integration.http.wsclient import FRAMING, OPEN, connect, recv
from tests.server_fixtures import PASSWORD, RunningServer, make_settings
from xmpp_video.auth.tokens import TokenSigner
from xmpp_video.config import Settings

pytestmark = pytest.mark.asyncio
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
JWT_SECRET = "s" * 48


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, trusted_proxies="127.0.0.1", jwt_secret=JWT_SECRET)


async def _access_token(server: RunningServer) -> str:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD}
        )
    token: str = response.json()["access_token"]
    return token


def _initial(token: str, authzid: str = "") -> str:
    gs2 = f"n,a={authzid}," if authzid else "n,,"
    message = f"{gs2}\x01host=localhost\x01port=5222\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(message.encode()).decode()


async def _ws_auth(server: RunningServer, initial: str) -> list[str]:
    """Tags of what the server answers to an OAUTHBEARER <auth/> (and to the dummy response
    after an error challenge)."""
    async with await connect(server) as ws:
        await ws.send(OPEN)
        await recv(ws)
        features = await recv(ws)
        mechanisms = [m.text for m in features.iter(f"{{{SASL}}}mechanism")]
        assert "OAUTHBEARER" in mechanisms
        await ws.send(f"<auth xmlns='{SASL}' mechanism='OAUTHBEARER'>{initial}</auth>")
        answer = await recv(ws)
        tags = [answer.tag.removeprefix(f"{{{SASL}}}")]
        if tags[0] == "challenge":
            error = base64.b64decode(answer.text or "")
            assert b'"status":"invalid_token"' in error
            await ws.send(f"<response xmlns='{SASL}'>AQ==</response>")  # the \x01 dummy
            failure = await recv(ws)
            tags.append(failure.tag.removeprefix(f"{{{SASL}}}"))
            tags.append(failure[0].tag.removeprefix(f"{{{SASL}}}"))
        elif tags[0] == "success":
            await ws.send(OPEN)
            opened = await recv(ws)
            assert opened.tag == f"{{{FRAMING}}}open"
        return tags


async def test_access_token_logs_in_over_websocket(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    token = await _access_token(xmpp_server)
    assert await _ws_auth(xmpp_server, _initial(token)) == ["success"]
    assert await _ws_auth(xmpp_server, _initial(token, "alice@localhost")) == ["success"]


async def test_refused_tokens_get_the_error_challenge(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    token = await _access_token(xmpp_server)
    refresh = TokenSigner([JWT_SECRET], 60, 60).issue_refresh("alice")[0]
    other = TokenSigner(["x" * 48], 60, 60).issue_access("alice")[0]
    for bad in (token[:-2] + "xx", refresh, other):
        assert await _ws_auth(xmpp_server, _initial(bad)) == [
            "challenge",
            "failure",
            "not-authorized",
        ]


async def test_token_of_a_deleted_user_is_refused(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    token = await _access_token(xmpp_server)
    from xmpp_video.core.accounts import parse_account_jid

    await xmpp_server.server.accounts.delete(parse_account_jid("alice", "localhost"))
    assert (await _ws_auth(xmpp_server, _initial(token)))[0] == "challenge"


async def test_wrong_authzid_and_malformed_messages(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    token = await _access_token(xmpp_server)
    assert await _ws_auth(xmpp_server, _initial(token, "bob@localhost")) == ["failure"]
    garbage = base64.b64encode(b"n,,auth=Bearer x").decode()
    assert await _ws_auth(xmpp_server, garbage) == ["failure"]


async def test_oauthbearer_over_direct_tls(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    token = await _access_token(xmpp_server)
    context = xmpp_server.client_ssl_context()
    context.set_alpn_protocols(["xmpp-client"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", xmpp_server.tls_port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(
            b"<stream:stream to='localhost' version='1.0' xmlns='jabber:client'"
            b" xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        data = b""
        async with asyncio.timeout(10):
            while b"</stream:features>" not in data:
                data += await reader.read(4096)
        assert b"<mechanism>OAUTHBEARER</mechanism>" in data
        writer.write(
            f"<auth xmlns='{SASL}' mechanism='OAUTHBEARER'>{_initial(token)}</auth>".encode()
        )
        data = b""
        async with asyncio.timeout(10):
            while not re.search(rb"<(success|failure)", data):
                data += await reader.read(4096)
        assert b"<success" in data
    finally:
        writer.close()
