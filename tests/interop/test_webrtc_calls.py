"""Real WebRTC calls through the JSON bridge (aiortc on every side, media over loopback).

JSON devices (tests/interop/json_webrtc.py) speak SPEC §5; native devices
(tests/interop/native_webrtc.py) speak JMI + Jingle with their own small SDP⇄Jingle translation
(tests/interop/jingle_sdp_min.py), so the product's translation is checked against another one,
not against itself.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.http.jsonclient import json_client
from tests.interop.calls_support import call_record
from tests.interop.json_webrtc import JsonWebRtc, json_call
from tests.interop.native_webrtc import native_peer
from tests.server_fixtures import RunningServer

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(90),
]
FRAMES = 5


async def test_two_json_clients_complete_a_video_call(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with json_call(xmpp_server, video=True) as call:
        a, b, alice, bob, call_id = call.a, call.b, call.alice, call.bob, call.call_id
        await asyncio.gather(alice.connected(), bob.connected())
        await asyncio.gather(alice.frames(FRAMES, FRAMES), bob.frames(FRAMES, FRAMES))
        assert (await call_record(xmpp_server, call_id, "active")).media == ("audio", "video")
        await a.send(type="call_end", call_id=call_id)
        ended = await b.next("call_ended", call_id=call_id)
        assert ended["reason"] == "hangup"
        assert (await call_record(xmpp_server, call_id, "ended")).end_reason == "hangup"


async def test_json_client_calls_a_native_client(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        json_client(xmpp_server, "alice") as a,
        native_peer(xmpp_server, bob_jid, resource="phone") as bob,
    ):
        alice = JsonWebRtc(a)
        try:
            answering = asyncio.create_task(bob.answer_next())
            call_id = await alice.call("bob", video=True)
            assert await answering == call_id
            await asyncio.gather(alice.connected(), bob.wait_connected(20))
            await alice.frames(FRAMES, FRAMES)
            counts = await bob.frames_received(FRAMES)
            assert counts.video >= FRAMES
            assert counts.audio >= FRAMES
            await a.send(type="call_end", call_id=call_id)
            assert await bob.wait_terminated(10) == "success"
            assert (await call_record(xmpp_server, call_id, "ended")).end_reason == "hangup"
        finally:
            await alice.close()


async def test_native_client_calls_a_json_client(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        native_peer(xmpp_server, alice_jid, resource="tablet") as alice,
        json_client(xmpp_server, "bob") as b,
    ):
        bob = JsonWebRtc(b)
        try:
            answering = asyncio.create_task(bob.answer())
            call_id = await alice.call("bob@localhost")
            assert await answering == call_id
            await asyncio.gather(alice.wait_connected(20), bob.connected())
            await bob.frames(FRAMES, FRAMES)
            counts = await alice.frames_received(FRAMES)
            assert counts.video >= FRAMES
            await alice.hangup()
            ended = await b.next("call_ended", call_id=call_id)
            assert ended["reason"] == "hangup"
        finally:
            await bob.close()


async def test_json_device_answers_and_the_native_device_stops_ringing(
    xmpp_server: RunningServer,
) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    from tests.interop.jingle_peer import call_peer

    async with (
        native_peer(xmpp_server, alice_jid, resource="tablet") as alice,
        json_client(xmpp_server, "bob") as b,
        call_peer(xmpp_server, bob_jid, resource="phone") as bob_phone,
    ):
        bob_web = JsonWebRtc(b)
        try:
            answering = asyncio.create_task(bob_web.answer())
            call_id = await alice.call("bob@localhost")
            assert await answering == call_id
            await bob_phone.next_jmi("propose", call_id=call_id)
            accept = await bob_phone.next_jmi("accept", call_id=call_id)
            assert "/json-" in accept.from_  # answered elsewhere: the phone stops ringing
            await asyncio.gather(alice.wait_connected(20), bob_web.connected())
            await alice.hangup()
        finally:
            await bob_web.close()
