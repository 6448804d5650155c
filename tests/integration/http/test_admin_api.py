"""The HTTP admin API (``/api/admin/calls…``): admin tokens only, live calls, ending one, stats."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
import pytest

from tests.integration.http.jsonclient import access_token
from tests.interop.jingle_peer import call_peer
from tests.server_fixtures import RunningServer, make_settings
from xmpp_video.auth.tokens import TokenSigner, key_id
from xmpp_video.config import Settings
from xmpp_video.storage.repositories import CallRecord

pytestmark = pytest.mark.asyncio


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, ring_timeout=30)


def _admin_token(server: RunningServer, operator: str = "cli:tester") -> str:
    s = server.app.settings
    token, _ = TokenSigner(s.jwt_secrets, 900, 86400).issue_admin(operator)
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _record(server: RunningServer, call_id: str, state: str) -> CallRecord:
    async with asyncio.timeout(10):
        while True:
            record = await server.server.storage.calls.get(call_id)
            if record is not None and record.state == state:
                return record
            await asyncio.sleep(0.05)


async def test_only_admin_tokens_open_the_admin_api(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    secret = xmpp_server.app.settings.jwt_secret
    now = int(time.time())
    long_lived = jwt.encode(
        {"sub": "cli:x", "typ": "admin", "jti": "j", "iat": now, "exp": now + 3600},
        secret,
        algorithm="HS256",
        headers={"kid": key_id(secret)},
    )
    async with httpx.AsyncClient(base_url=xmpp_server.http_url, timeout=10) as http:
        login = await http.post(
            "/api/auth/login",
            json={"username": "alice", "password": "correct horse battery staple"},
        )
        user_tokens = login.json()
        for headers, code in (
            ({}, "unauthorized"),
            (_bearer(user_tokens["access_token"]), "invalid_token"),
            (_bearer(user_tokens["refresh_token"]), "invalid_token"),
            (_bearer(TokenSigner(["x" * 40], 900, 900).issue_admin("me")[0]), "invalid_token"),
            (_bearer(long_lived), "invalid_token"),
        ):
            for method, path in (
                ("GET", "/api/admin/calls"),
                ("GET", "/api/admin/calls/stats"),
                ("DELETE", "/api/admin/calls/some-call"),
            ):
                response = await http.request(method, path, headers=headers)
                assert response.status_code == 401, (method, path, headers)
                assert response.json()["error"] == code
        # and an admin token opens nothing else
        admin = _bearer(_admin_token(xmpp_server))
        turn = await http.get("/api/turn/credentials", headers=admin)
        assert turn.status_code == 401
        assert (await http.get("/api/admin/calls", headers=admin)).json() == {"calls": []}
        token = await access_token(xmpp_server, "alice")
        assert (await http.get("/api/turn/credentials", headers=_bearer(token))).status_code == 200


async def test_list_end_and_stats(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    admin = _bearer(_admin_token(xmpp_server, "cli:tester"))
    async with (
        httpx.AsyncClient(base_url=xmpp_server.http_url, timeout=10) as http,
        call_peer(xmpp_server, "alice@localhost") as alice,
        call_peer(xmpp_server, "bob@localhost") as bob,
    ):
        call_id = alice.propose("bob@localhost", media=("audio",), call_id="odd id/with?chars")
        await bob.next_jmi("propose", call_id=call_id)
        bob.ringing(alice.jid, call_id)
        await alice.next_jmi("ringing", call_id=call_id)
        listed = (await http.get("/api/admin/calls", headers=admin)).json()["calls"]
        assert len(listed) == 1
        call = listed[0]
        assert (call["call_id"], call["caller"], call["callee"]) == (
            call_id,
            "alice@localhost",
            "bob@localhost",
        )
        assert (call["state"], call["media"], call["devices"]) == ("ringing", ["audio"], [bob.jid])
        assert call["caller_device"] == alice.jid
        assert call["since"].endswith("Z")

        missing = await http.delete("/api/admin/calls/nope", headers=admin)
        assert (missing.status_code, missing.json()["error"]) == (404, "unknown_call")
        not_here = await http.delete("/api/admin/calls/stats", headers=admin)
        assert not_here.status_code == 405
        ended = await http.delete("/api/admin/calls/" + quote(call_id, safe=""), headers=admin)
        assert ended.status_code == 200, ended.text
        assert ended.json() == {
            "call_id": call_id,
            "ended": True,
            "end_reason": "terminated_by_admin",
            "ended_by": "cli:tester",
        }
        retract = await bob.next_jmi("retract", call_id=call_id)
        reject = await alice.next_jmi("reject", call_id=call_id)
        assert retract.reason_text == reject.reason_text == "terminated_by_admin"
        record = await _record(xmpp_server, call_id, "ended")
        assert (record.end_reason, record.ended_by) == ("terminated_by_admin", "cli:tester")
        assert (await http.get("/api/admin/calls", headers=admin)).json() == {"calls": []}

        stats = await http.get("/api/admin/calls/stats", params={"hours": 2}, headers=admin)
        assert stats.status_code == 200
        body = stats.json()
        assert (body["total"], body["answered"], body["answer_rate"]) == (1, 0, 0.0)
        assert body["outcomes"]["terminated_by_admin"] == 1
        assert body["setup_time"] == {"count": 0, "mean_seconds": None, "p95_seconds": None}
        past = await http.get(
            "/api/admin/calls/stats",
            params={"start": "2001-01-01T00:00:00Z", "end": "2001-01-02T00:00:00+00:00"},
            headers=admin,
        )
        assert (past.json()["total"], past.json()["start"]) == (0, "2001-01-01T00:00:00Z")
        for params in (
            {"hours": "x"},
            {"hours": "0"},
            {"start": "soon"},
            {"hours": "1", "start": "2001-01-01T00:00:00Z"},
            {"start": "2001-01-02T00:00:00Z", "end": "2001-01-01T00:00:00Z"},
        ):
            bad = await http.get("/api/admin/calls/stats", params=params, headers=admin)
            assert (bad.status_code, bad.json()["error"]) == (400, "bad_request"), params
