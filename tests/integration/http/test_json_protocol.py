"""The JSON protocol of SPEC §5 on /ws without subprotocol: authentication, every error case,
limits, and calls between JSON clients and Conversations-style native peers (signalling)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.integration.http.jsonclient import access_token, json_client
from tests.interop.jingle_peer import call_peer
from tests.server_fixtures import RunningServer, make_settings
from xmpp_video.bridge import session as bridge_session
from xmpp_video.config import Settings

pytestmark = pytest.mark.asyncio


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path, database_url, ring_timeout=2, max_json_message=2048, json_messages_per_second=10
    )


# -- authentication ------------------------------------------------------------------------


async def test_message_before_auth_is_refused_with_4001(xmpp_server: RunningServer) -> None:
    async with json_client(xmpp_server) as client:
        await client.send(type="ping", id="p1")
        refused = await client.next("error")
        assert refused["code"] == "not_authenticated"
        assert refused["ref"] == "p1"
        assert await client.closed() == 4001


async def test_bad_token_gets_auth_error_and_4001(xmpp_server: RunningServer) -> None:
    async with json_client(xmpp_server) as client:
        await client.send(type="auth", token="not.a.token", id=1)
        refused = await client.next("auth_error")
        assert refused["code"] == "invalid_token"
        assert refused["ref"] == 1
        assert await client.closed() == 4001


async def test_no_auth_in_time_closes_4001(
    xmpp_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge_session, "AUTH_TIMEOUT", 0.3)
    async with json_client(xmpp_server) as client:
        refused = await client.next("error")
        assert refused["code"] == "not_authenticated"
        assert await client.closed() == 4001


async def test_auth_binds_a_json_resource_seen_by_native_contacts(
    xmpp_server: RunningServer,
) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    await subscribe_both(xmpp_server, "alice@localhost", "bob@localhost")
    async with call_peer(xmpp_server, "bob@localhost") as bob:
        async with json_client(xmpp_server, "alice") as alice:
            assert alice.jid == "alice@localhost"
            seen = await bob.client.next_presence(from_="alice@localhost")
            assert str(seen["from"]).startswith("alice@localhost/json-")
            await alice.send(type="ping", id="x")
            assert (await alice.next("pong"))["ref"] == "x"
        gone = await bob.client.next_presence(type_="unavailable", from_="alice@localhost")
        assert str(gone["from"]).startswith("alice@localhost/json-")


async def subscribe_both(server: RunningServer, a: str, b: str) -> None:
    from xmpp_video.storage.repositories import RosterItem, Subscription

    roster = server.server.storage.roster
    await roster.upsert(RosterItem(owner=a, contact=b, subscription=Subscription.BOTH))
    await roster.upsert(RosterItem(owner=b, contact=a, subscription=Subscription.BOTH))


# -- errors: each answered, the connection stays usable ------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2, 3]", "invalid_json"),
        ('"a string"', "invalid_json"),
        ('{"id": 7}', "bad_request"),
        ('{"type": "fly", "id": 7}', "unknown_type"),
        ('{"type": "call_initiate", "id": 7}', "bad_request"),
        ('{"type": "call_initiate", "to": 5, "id": 7}', "bad_request"),
        ('{"type": "call_initiate", "to": "bob", "call_type": "hologram", "id": 7}', "bad_request"),
        ('{"type": "call_accept", "call_id": "nope", "id": 7}', "unknown_call"),
        ('{"type": "sdp_offer", "call_id": "nope", "id": 7}', "bad_request"),
        ('{"type": "ice_candidate", "call_id": "x", "candidate": 3, "id": 7}', "bad_request"),
        ('{"type": "call_reject", "call_id": "x", "reason": "meh", "id": 7}', "bad_request"),
        ('{"type": "auth", "token": "again", "id": 7}', "not_allowed"),
    ],
)
async def test_bad_messages_get_their_error(
    xmpp_server: RunningServer, frame: str, code: str
) -> None:
    await xmpp_server.add_user("alice")
    async with json_client(xmpp_server, "alice") as client:
        await client.ws.send(frame)
        answer = await client.next("error")
        assert answer["code"] == code, answer
        assert isinstance(answer["message"], str)
        if '"id": 7' in frame and code != "invalid_json":
            assert answer["ref"] == 7
        await client.send(type="ping", id="still-there")
        assert (await client.next("pong"))["ref"] == "still-there"


async def test_too_large_binary_and_unknown_users(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    async with json_client(xmpp_server, "alice") as client:
        await client.send(type="ping", padding="x" * 3000)
        assert (await client.next("error"))["code"] == "too_large"
        await client.ws.send(b'{"type": "ping"}')
        assert (await client.next("error"))["code"] == "bad_request"
        await client.send(type="call_initiate", to="nobody", call_type="audio", id=1)
        assert (await client.next("error", ref=1))["code"] == "user_unavailable"
        await client.send(type="call_initiate", to="alice", call_type="audio", id=2)
        assert (await client.next("error", ref=2))["code"] == "not_allowed"
        await client.send(type="ping", id=3)
        await client.next("pong", ref=3)


async def test_another_users_call_is_unknown_here(xmpp_server: RunningServer) -> None:
    for user in ("alice", "bob", "carol"):
        await xmpp_server.add_user(user)
    async with (
        json_client(xmpp_server, "alice") as alice,
        json_client(xmpp_server, "carol") as carol,
        call_peer(xmpp_server, "bob@localhost") as bob,
    ):
        await alice.send(type="call_initiate", to="bob", call_type="audio", id=1)
        call_id = (await alice.next("call_initiated", ref=1))["call_id"]
        await bob.next_jmi("propose", call_id=call_id)
        for attempt in (
            {"type": "call_end", "call_id": call_id},
            {"type": "call_accept", "call_id": call_id},
            {"type": "sdp_offer", "call_id": call_id, "sdp": "v=0"},
        ):
            await carol.send(id="c", **attempt)
            refused = await carol.next("error", ref="c")
            assert refused["code"] == "unknown_call"
            assert call_id not in refused["message"]
        await bob.expect_no_jmi("retract", call_id=call_id)  # carol controlled nothing


async def test_flooding_is_rate_limited_then_closed(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    async with json_client(xmpp_server, "alice") as client:
        for _ in range(15):
            await client.send(type="ping")
        assert (await client.next("error"))["code"] == "rate_limited"
        for _ in range(60):
            await client.send(type="ping")
        assert await client.closed() == 4008


# -- calls: signalling between JSON and native devices ---------------------------------------


async def test_json_caller_and_native_callee(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        json_client(xmpp_server, "alice") as alice,
        call_peer(xmpp_server, "bob@localhost", resource="phone") as bob,
    ):
        await alice.send(type="call_initiate", to="bob", call_type="video", id="c1")
        call_id = (await alice.next("call_initiated", ref="c1"))["call_id"]
        propose = await bob.next_jmi("propose", call_id=call_id)
        assert set(propose.media) == {"audio", "video"}
        assert propose.from_.startswith("alice@localhost/json-")
        bob.ringing(propose.from_, call_id)
        await alice.next("call_ringing", call_id=call_id)
        bob.accept_elsewhere(call_id)
        bob.proceed(propose.from_, call_id)
        accepted = await alice.next("call_accepted", call_id=call_id)
        assert accepted["by"] == "bob@localhost"
        await alice.send(type="call_end", call_id=call_id)
        finish = await bob.next_jmi("finish", call_id=call_id)
        assert finish.reason == "success"


async def test_native_caller_rings_json_and_native_devices(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, "alice@localhost") as alice,
        json_client(xmpp_server, "bob") as bob_web,
        call_peer(xmpp_server, "bob@localhost", resource="phone") as bob_phone,
    ):
        call_id = alice.propose("bob@localhost", media=("audio",))
        incoming = await bob_web.next("call_incoming", call_id=call_id)
        assert incoming["from"] == "alice@localhost"
        assert incoming["call_type"] == "audio"
        ringing = await alice.next_jmi("ringing", call_id=call_id)  # the JSON device rings
        assert "/json-" in ringing.from_
        await bob_phone.next_jmi("propose", call_id=call_id)
        bob_phone.accept_elsewhere(call_id)
        bob_phone.proceed(alice.jid, call_id)
        ended = await bob_web.next("call_ended", call_id=call_id)
        assert ended["reason"] == "answered_elsewhere"


async def test_json_callee_rejects_busy(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, "alice@localhost") as alice,
        json_client(xmpp_server, "bob") as bob,
    ):
        call_id = alice.propose("bob@localhost")
        await bob.next("call_incoming", call_id=call_id)
        await bob.send(type="call_reject", call_id=call_id, reason="busy")
        assert (await alice.next_jmi("reject", call_id=call_id)).reason == "busy"
        await bob.send(type="call_accept", call_id=call_id, id="late")
        assert (await bob.next("error", ref="late"))["code"] == "unknown_call"


async def test_json_caller_sees_timeout_and_unavailable(xmpp_server: RunningServer) -> None:
    for user in ("alice", "bob", "carol"):
        await xmpp_server.add_user(user)
    async with (
        json_client(xmpp_server, "alice") as alice,
        call_peer(xmpp_server, "bob@localhost") as bob,
    ):
        await alice.send(type="call_initiate", to="bob", call_type="audio", id=1)
        call_id = (await alice.next("call_initiated", ref=1))["call_id"]
        await bob.next_jmi("propose", call_id=call_id)
        ended = await alice.next("call_ended", call_id=call_id, timeout=8)
        assert ended["reason"] == "timeout"
        await alice.send(type="call_initiate", to="carol", call_type="audio", id=2)
        offline = (await alice.next("call_initiated", ref=2))["call_id"]
        ended = await alice.next("call_ended", call_id=offline, timeout=3)
        assert ended["reason"] == "unavailable"


async def test_json_to_json_call_signalling(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        json_client(xmpp_server, "alice") as alice,
        json_client(xmpp_server, "bob") as bob,
    ):
        await alice.send(type="call_initiate", to="bob@localhost", call_type="video", id=1)
        call_id = (await alice.next("call_initiated", ref=1))["call_id"]
        incoming = await bob.next("call_incoming", call_id=call_id)
        assert (incoming["from"], incoming["call_type"]) == ("alice@localhost", "video")
        await alice.next("call_ringing", call_id=call_id)
        await bob.send(type="call_accept", call_id=call_id)
        assert (await alice.next("call_accepted", call_id=call_id))["by"] == "bob@localhost"
        await alice.send(type="call_end", call_id=call_id)
        ended = await bob.next("call_ended", call_id=call_id)
        assert ended["reason"] == "hangup"


async def test_shutdown_tells_json_clients(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    async with json_client(xmpp_server, "alice") as alice:
        stopping = asyncio.create_task(xmpp_server.app.stop())
        await alice.next("server_shutdown")
        assert await alice.closed() == 1001
        await stopping


async def test_token_reuse_across_connections(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    token = await access_token(xmpp_server, "alice")
    for _ in range(2):
        async with json_client(xmpp_server) as client:
            await client.send(type="auth", token=token)
            assert (await client.next("auth_ok"))["jid"] == "alice@localhost"
    assert json.dumps({"ok": True})


async def test_a_ringing_json_device_is_in_the_call_record(xmpp_server: RunningServer) -> None:
    from tests.interop.calls_support import call_record

    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, "alice@localhost") as alice,
        json_client(xmpp_server, "bob") as bob,
    ):
        call_id = alice.propose("bob@localhost")
        await bob.next("call_incoming", call_id=call_id)
        record = await call_record(xmpp_server, call_id, "ringing")
        assert [d.split("/", 1)[1].startswith("json-") for d in record.devices] == [True]
