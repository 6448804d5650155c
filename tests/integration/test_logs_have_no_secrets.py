"""Passwords, SASL payloads and stored SCRAM keys never reach the logs (STYLE.md habit 7).

Everything is logged at DEBUG (the root logger, as `LOG_LEVEL=DEBUG` sets it), logins go through
PLAIN and SCRAM-SHA-256 with right and wrong passwords, a message is sent; then no log record of
the server process — its own, SQLAlchemy's, the database driver's, asyncio's — may contain a
secret, in any usual encoding. The slixmpp client logs what it sends (its `SEND:` records): those
records are where the test learns the exact SASL payloads, and are not searched themselves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest

from tests.integration.http.wsclient import OPEN as WS_OPEN
from tests.integration.http.wsclient import connect as ws_connect
from tests.integration.http.wsclient import recv as ws_recv
from tests.interop import extdisco
from tests.interop.slix import TIMEOUT, connected, make_client
from tests.server_fixtures import RunningServer, make_settings, running_server

ROMEO_PASSWORD = "Romeo's s3cret: wherefore"
JULIET_PASSWORD = "Juliet's s3cret: a rose"
WRONG_PASSWORD = "not-the-r1ght-one!"
CLIENT_LOGGERS = ("slixmpp", "tests")  # the test's own side of the connection

CLI = [sys.executable, "-m", "xmpp_video.cli.main"]
_SASL_SENT = re.compile(r"<(auth|response)\b[^>]*>([^<]+)</\1>")


def _encodings(secret: bytes) -> set[str]:
    """The ways a secret usually shows up in a log line."""
    forms = {
        base64.b64encode(secret).decode(),
        secret.hex(),
        repr(secret)[2:-1],  # inside b'...', e.g. in a logged tuple of SQL parameters
    }
    with contextlib.suppress(UnicodeDecodeError):
        forms.add(secret.decode())
    return {form for form in forms if len(form) >= 8}


def _sasl_secrets(client_records: Iterable[logging.LogRecord]) -> set[str]:
    """The base64 payloads the client sent in <auth/> and <response/>, plus what they carry
    (for SCRAM, the client-final message and its proof)."""
    found: set[str] = set()
    for record in client_records:
        message = record.getMessage()
        if not message.startswith("SEND:"):
            continue
        for _tag, payload in _SASL_SENT.findall(message):
            if payload == "=":
                continue
            found.add(payload)
            decoded = base64.b64decode(payload)
            found |= _encodings(decoded)
            proof = re.search(rb",p=([A-Za-z0-9+/=]+)$", decoded)
            if proof:
                found.add(proof[1].decode())
    return found


def _rendered(record: logging.LogRecord) -> str:
    """Message with its arguments, plus the traceback if any."""
    return logging.Formatter("%(name)s %(message)s").format(record)


def _assert_no_secret(records: Iterable[logging.LogRecord], secrets_: set[str]) -> None:
    leaks = [
        (record.name, secret)
        for record in records
        if not record.name.startswith(CLIENT_LOGGERS)
        for secret in secrets_
        if secret in _rendered(record)
    ]
    assert not leaks, f"secrets in the logs (logger, secret): {sorted(set(leaks))[:10]}"


async def _stored_key_secrets(server: RunningServer, username: str) -> set[str]:
    found: set[str] = set()
    for hash_name in ("SHA-1", "SHA-256"):
        stored = await server.server.storage.users.get_scram(username, server.domain, hash_name)
        assert stored is not None
        found |= _encodings(stored.stored_key) | _encodings(stored.server_key)
    return found


async def _failed_login(server: RunningServer, jid: str, mechanism: str) -> None:
    client = make_client(server, jid, WRONG_PASSWORD, mechanism=mechanism)
    client.connect("127.0.0.1", server.c2s_port)
    try:
        await asyncio.wait_for(client.auth_failed.wait(), TIMEOUT)
    finally:
        client.disconnect(wait=1.0)
        try:
            await asyncio.wait_for(client.disconnected_event.wait(), 5)
        except TimeoutError:
            client.abort()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Root logger at DEBUG before the server starts (request it before `xmpp_server`)."""
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.asyncio
async def test_logins_and_messages_log_no_secret(
    debug_logs: pytest.LogCaptureFixture, xmpp_server: RunningServer
) -> None:
    romeo = await xmpp_server.add_user("romeo", ROMEO_PASSWORD)
    juliet = await xmpp_server.add_user("juliet", JULIET_PASSWORD)

    await _failed_login(xmpp_server, romeo, "PLAIN")
    await _failed_login(xmpp_server, juliet, "SCRAM-SHA-256")
    async with (
        connected(xmpp_server, romeo, ROMEO_PASSWORD, mechanism="PLAIN") as r,
        connected(xmpp_server, juliet, JULIET_PASSWORD, mechanism="SCRAM-SHA-256") as j,
    ):
        r.send_message(mto=j.boundjid.full, mbody="hello juliet", mtype="chat")
        received = await j.next_message()
        assert received["body"] == "hello juliet"

    records = list(debug_logs.records)
    assert any(r.name.startswith("xmpp_video") for r in records), "nothing logged at all?"
    client_records = [r for r in records if r.name.startswith("slixmpp")]
    sasl = _sasl_secrets(client_records)
    # 2 failed + 2 successful logins: PLAIN (1 payload each) and SCRAM (client-first, final)
    assert len([s for s in sasl if s.endswith("=") or len(s) > 20]) >= 4, sasl

    secrets_ = sasl
    for password in (ROMEO_PASSWORD, JULIET_PASSWORD, WRONG_PASSWORD):
        secrets_ |= _encodings(password.encode())
    secrets_ |= await _stored_key_secrets(xmpp_server, "romeo")
    secrets_ |= await _stored_key_secrets(xmpp_server, "juliet")
    _assert_no_secret(records, secrets_)


@pytest.mark.asyncio
async def test_http_api_logs_no_password_token_or_secret(
    debug_logs: pytest.LogCaptureFixture, xmpp_server: RunningServer
) -> None:
    """Login (right and wrong), refresh, reuse of a refresh token, TURN credentials, and an
    OAUTHBEARER login: no password, token, TURN password or server secret in any record."""
    await xmpp_server.add_user("romeo", ROMEO_PASSWORD)
    settings = xmpp_server.app.settings
    async with httpx.AsyncClient(base_url=xmpp_server.http_url, timeout=10) as http:
        wrong = {"username": "romeo", "password": WRONG_PASSWORD}
        assert (await http.post("/api/auth/login", json=wrong)).status_code == 401
        right = {"username": "romeo", "password": ROMEO_PASSWORD}
        tokens = (await http.post("/api/auth/login", json=right)).json()
        rotated = (
            await http.post("/api/auth/token", json={"refresh_token": tokens["refresh_token"]})
        ).json()
        reuse = await http.post("/api/auth/token", json={"refresh_token": tokens["refresh_token"]})
        assert reuse.status_code == 401
        bearer = {"authorization": f"Bearer {rotated['access_token']}"}
        turn = (await http.get("/api/turn/credentials", headers=bearer)).json()
    initial = f"n,,\x01auth=Bearer {rotated['access_token']}\x01\x01".encode()
    async with await ws_connect(xmpp_server, tls=True) as ws:
        await ws.send(WS_OPEN)
        await ws_recv(ws)
        await ws_recv(ws)
        payload = base64.b64encode(initial).decode()
        await ws.send(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='OAUTHBEARER'>"
            f"{payload}</auth>"
        )
        assert (await ws_recv(ws)).tag.endswith("success")

    secrets_ = {
        tokens["access_token"],
        tokens["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
        turn["password"],
        settings.jwt_secret,
        settings.turn_secret,
    }
    for token in list(secrets_):
        secrets_.add(token.rsplit(".", 1)[-1])  # a JWT's signature alone
    secrets_ |= _encodings(initial)
    for password in (ROMEO_PASSWORD, WRONG_PASSWORD):
        secrets_ |= _encodings(password.encode())
    _assert_no_secret(list(debug_logs.records), secrets_)


@pytest.mark.asyncio
async def test_xep0215_logs_no_turn_password_or_secret(
    debug_logs: pytest.LogCaptureFixture, tmp_path: Path, database_url: str
) -> None:
    """XEP-0215 services and credentials requests: no TURN password or secret in any record."""
    uris = "turn:turn.example.net:3478?transport=udp,stun:stun.example.net"
    settings = make_settings(tmp_path, database_url, turn_uris=uris)
    async with running_server(settings) as server:
        romeo = await server.add_user("romeo", ROMEO_PASSWORD)
        async with connected(server, romeo, ROMEO_PASSWORD, presence=False) as client:
            listed = await extdisco.services(client, server.domain)
            asked = await extdisco.credentials(
                client, server.domain, type="turn", host="turn.example.net"
            )
        turn_secret = server.app.settings.turn_secret
    passwords = {s["password"] for s in listed + asked if "password" in s}
    assert len(passwords) >= 1
    assert any(r.name.startswith("xmpp_video.modules") for r in debug_logs.records)
    _assert_no_secret(list(debug_logs.records), passwords | {turn_secret})


def _cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XMPP_", "C2S_"))}
    env.update(
        DATA_DIR=str(tmp_path / "var"),
        XMPP_DOMAIN="localhost",
        DATABASE_URL=database_url,
        LOG_LEVEL="DEBUG",
    )
    return env


@pytest.mark.parametrize("command", [["add"], ["add", "passwd"]])
def test_user_commands_do_not_print_the_password(
    tmp_path: Path, migrated_database_url: str, command: list[str]
) -> None:
    password = "cli-Pa55word-that-must-not-show"
    env = _cli_env(tmp_path, migrated_database_url)
    for sub in command:
        done = subprocess.run(
            [*CLI, "user", sub, "tybalt@localhost", "--password", password],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for stream in (done.stdout, done.stderr):
            for form in _encodings(password.encode()):
                assert form not in stream
