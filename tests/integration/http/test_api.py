"""The HTTP API of SPEC §4 over real sockets: login, refresh rotation, JWT refusals, TURN
credentials, rate limits, errors, host-meta, metrics."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import jwt
import pytest
import pytest_asyncio

from tests.server_fixtures import PASSWORD, RunningServer, make_settings
from xmpp_video.auth.tokens import TokenSigner, key_id
from xmpp_video.config import Settings

pytestmark = pytest.mark.asyncio
JWT_SECRET = "j" * 64  # long enough for the HS512 forgery below, too
OLD_SECRET = "o" * 40
TURN_SECRET = "turn-secret-for-tests"
TURN_URIS = "turn:127.0.0.1:3478?transport=udp,stun:127.0.0.1:3478"


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        jwt_secret=JWT_SECRET,
        jwt_previous_secrets=OLD_SECRET,
        turn_secret=TURN_SECRET,
        turn_uris=TURN_URIS,
        turn_ttl=600,
        login_attempts_per_user=3,
        login_attempts_per_address=8,
        max_http_body=1024,
    )


@pytest_asyncio.fixture
async def http(xmpp_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    await xmpp_server.add_user("alice")
    async with httpx.AsyncClient(base_url=xmpp_server.http_url, timeout=10) as client:
        yield client


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]


async def _login(http: httpx.AsyncClient, user: str = "alice") -> dict[str, Any]:
    response = await http.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _forge(claims: dict[str, Any], key: str, algorithm: str = "HS256", **header: Any) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=header or None)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "alice",
        "typ": "access",
        "jti": "x1",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# -- login ---------------------------------------------------------------------------------


async def test_login_returns_tokens(http: httpx.AsyncClient) -> None:
    body = await _login(http)
    assert body["token_type"] == "Bearer"
    assert body["jid"] == "alice@localhost"
    assert body["expires_in"] == 900
    access = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"])
    assert access["sub"] == "alice"
    assert access["typ"] == "access"
    assert access["exp"] - access["iat"] == 900
    assert jwt.get_unverified_header(body["access_token"])["kid"] == key_id(JWT_SECRET)
    refresh = jwt.decode(body["refresh_token"], JWT_SECRET, algorithms=["HS256"])
    assert refresh["typ"] == "refresh"


async def test_login_accepts_the_bare_jid_as_username(http: httpx.AsyncClient) -> None:
    body = await _login(http, "alice@localhost")
    assert body["jid"] == "alice@localhost"


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    http: httpx.AsyncClient,
) -> None:
    wrong = await http.post("/api/auth/login", json={"username": "alice", "password": "nope"})
    unknown = await http.post("/api/auth/login", json={"username": "mallory", "password": "x"})
    _error(wrong, 401, "invalid_credentials")
    _error(unknown, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()


JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", JSON, 400, "bad_request"),
        (b"[1, 2]", JSON, 400, "bad_request"),
        (b'{"username": "alice"}', JSON, 400, "bad_request"),
        (b'{"username": 5, "password": "x"}', JSON, 400, "bad_request"),
        (b"\xff\xfe", JSON, 400, "bad_request"),
        (b"username=alice&password=x", FORM, 415, "unsupported_media_type"),
        (b'{"username": "' + b"a" * 2000 + b'"}', JSON, 413, "payload_too_large"),
    ],
)
async def test_bad_login_bodies(
    http: httpx.AsyncClient, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    _error(await http.post("/api/auth/login", content=content, headers=headers), status, code)


async def test_unknown_path_and_wrong_method(http: httpx.AsyncClient) -> None:
    _error(await http.get("/api/nothing"), 404, "not_found")
    for path in ("/ws", "/xmpp-websocket"):
        plain = await http.get(path)
        _error(plain, 426, "upgrade_required")
        assert plain.headers["upgrade"] == "websocket"
    response = await http.get("/api/auth/login")
    _error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


async def test_server_survives_a_malformed_http_request(xmpp_server: RunningServer) -> None:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", xmpp_server.http_port)
    writer.write(b"THIS IS NOT HTTP\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"error":"bad_request"' in answer
    async with httpx.AsyncClient(base_url=xmpp_server.http_url) as client:
        assert (await client.get("/health")).status_code == 200


# -- refresh -------------------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_family(http: httpx.AsyncClient) -> None:
    first = await _login(http)
    second = await http.post("/api/auth/token", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["jid"] == "alice@localhost"
    first_family = jwt.decode(first["refresh_token"], JWT_SECRET, algorithms=["HS256"])["fam"]
    new_family = jwt.decode(rotated["refresh_token"], JWT_SECRET, algorithms=["HS256"])["fam"]
    assert first_family == new_family
    # the old one comes back: it leaked; the whole family dies, the rotated token included
    reused = await http.post("/api/auth/token", json={"refresh_token": first["refresh_token"]})
    _error(reused, 401, "invalid_token")
    after = await http.post("/api/auth/token", json={"refresh_token": rotated["refresh_token"]})
    _error(after, 401, "invalid_token")
    # another login starts a new, healthy family
    other = await _login(http)
    again = await http.post("/api/auth/token", json={"refresh_token": other["refresh_token"]})
    assert again.status_code == 200


async def test_access_token_is_not_a_refresh_token(http: httpx.AsyncClient) -> None:
    tokens = await _login(http)
    response = await http.post("/api/auth/token", json={"refresh_token": tokens["access_token"]})
    _error(response, 401, "invalid_token")


async def test_refresh_token_never_issued_here_is_refused(http: httpx.AsyncClient) -> None:
    token = TokenSigner([JWT_SECRET], 900, 3600).issue_refresh("alice")[0]
    _error(await http.post("/api/auth/token", json={"refresh_token": token}), 401, "invalid_token")


# -- TURN and bearer tokens ----------------------------------------------------------------


async def test_turn_credentials(http: httpx.AsyncClient) -> None:
    tokens = await _login(http)
    before = int(time.time())
    response = await http.get(
        "/api/turn/credentials", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expiry, _, user = body["username"].partition(":")
    assert user == "alice@localhost"
    assert before + 600 <= int(expiry) <= int(time.time()) + 600
    digest = hmac.new(TURN_SECRET.encode(), body["username"].encode(), hashlib.sha1).digest()
    assert body["password"] == base64.b64encode(digest).decode()
    assert body["ttl"] == 600
    assert body["uris"] == TURN_URIS.split(",")


async def test_turn_credentials_need_a_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/turn/credentials")
    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _forge(_claims(), "", "none"), id="alg-none"),
        pytest.param(lambda: _forge(_claims(), JWT_SECRET, "HS512"), id="hs512"),
        pytest.param(lambda: _forge(_claims(), "another secret of 32 bytes length"), id="secret"),
        pytest.param(lambda: _forge(_claims(exp=int(time.time()) - 5), JWT_SECRET), id="expired"),
        pytest.param(lambda: _forge(_claims(typ="refresh"), JWT_SECRET), id="refresh-as-access"),
        pytest.param(lambda: _forge(_claims(jti=None), JWT_SECRET), id="no-jti"),
        pytest.param(lambda: _forge(_claims(typ=None), JWT_SECRET), id="no-typ"),
        pytest.param(lambda: _forge(_claims(iat=None), JWT_SECRET), id="no-iat"),
        pytest.param(lambda: _forge(_claims(exp=None), JWT_SECRET), id="no-exp"),
        pytest.param(lambda: _forge(_claims(), JWT_SECRET, kid="unknown"), id="unknown-kid"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
    ],
)
async def test_refused_access_tokens(http: httpx.AsyncClient, make: Any) -> None:
    response = await http.get(
        "/api/turn/credentials", headers={"authorization": f"Bearer {make()}"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] in ("invalid_token", "token_expired")


async def test_token_signed_with_a_former_secret_still_works(http: httpx.AsyncClient) -> None:
    token = TokenSigner([OLD_SECRET], 900, 3600).issue_access("alice")[0]
    response = await http.get("/api/turn/credentials", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


# -- rate limits ---------------------------------------------------------------------------


async def test_failed_logins_per_user_are_limited(http: httpx.AsyncClient) -> None:
    for _ in range(3):
        wrong = {"username": "alice", "password": "wrong"}
        _error(await http.post("/api/auth/login", json=wrong), 401, "invalid_credentials")
    limited = await http.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    _error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_logins_per_address_are_limited(http: httpx.AsyncClient) -> None:
    statuses = []
    for i in range(10):
        body = {"username": f"user{i}", "password": "x"}
        statuses.append((await http.post("/api/auth/login", json=body)).status_code)
    assert statuses[:8] == [401] * 8
    assert statuses[8:] == [429, 429]


# -- well-known, metrics -------------------------------------------------------------------


async def test_host_meta_advertises_the_websocket(
    http: httpx.AsyncClient, xmpp_server: RunningServer
) -> None:
    xml = await http.get("/.well-known/host-meta")
    assert xml.status_code == 200
    assert xml.headers["access-control-allow-origin"] == "*"
    root = ElementTree.fromstring(xml.content)
    hrefs = [
        link.get("href")
        for link in root.iter("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
        if link.get("rel") == "urn:xmpp:alt-connections:websocket"
    ]
    assert f"ws://127.0.0.1:{xmpp_server.http_port}/xmpp-websocket" in hrefs
    as_json = await http.get("/.well-known/host-meta.json")
    assert as_json.headers["access-control-allow-origin"] == "*"
    assert [link["href"] for link in json.loads(as_json.content)["links"]] == hrefs


async def test_metrics_count_what_happened(http: httpx.AsyncClient) -> None:
    await _login(http)
    await http.post("/api/auth/login", json={"username": "alice", "password": "wrong"})
    text = (await http.get("/metrics")).text
    assert 'xmpp_video_http_requests_total{status="200"}' in text
    assert 'xmpp_video_http_requests_total{status="401"} 1.0' in text
    assert "xmpp_video_auth_failures_total 1.0" in text
    assert 'xmpp_video_connections{transport="websocket"} 0.0' in text
    assert "xmpp_video_stanzas_routed_total" in text


async def test_the_api_over_https(xmpp_server: RunningServer) -> None:
    url = f"https://localhost:{xmpp_server.https_port}"
    async with httpx.AsyncClient(
        base_url=url, verify=xmpp_server.client_ssl_context(), timeout=10
    ) as https:
        await xmpp_server.add_user("alice")
        health = await https.get("/health")
        assert health.status_code == 200
        login = await https.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert login.status_code == 200
        meta = await https.get("/.well-known/host-meta.json")
        hrefs = [link["href"] for link in meta.json()["links"]]
        assert hrefs[0] == f"wss://localhost:{xmpp_server.https_port}/xmpp-websocket"
