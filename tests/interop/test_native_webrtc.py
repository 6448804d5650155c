"""Real WebRTC between two native devices (slixmpp + aiortc, tests/interop/native_webrtc.py)
through the server: JMI rings, Jingle carries the offer/answer and candidates, media flows over
the local interfaces, and the call process records the call from propose to hangup."""

from __future__ import annotations

import asyncio

import pytest

from tests.interop.calls_support import call_record
from tests.interop.native_webrtc import NativeWebRtcPeer, native_peer
from tests.server_fixtures import RunningServer

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(60),
]
MIN_FRAMES = 5


async def _talk(caller: NativeWebRtcPeer, callee: NativeWebRtcPeer) -> str:
    """Call, connect, exchange audio and video both ways, hang up; returns the call id."""
    async with asyncio.timeout(30):
        answering = asyncio.create_task(callee.answer_next())
        call_id = await caller.call(callee.bare)
        assert await answering == call_id
        await asyncio.gather(caller.wait_connected(), callee.wait_connected())
        for device in (caller, callee):
            counts = await device.frames_received(MIN_FRAMES)
            assert counts.video >= MIN_FRAMES
            assert counts.audio >= MIN_FRAMES
        await caller.hangup()
        assert await callee.wait_terminated() == "success"
    return call_id


async def test_native_devices_call_with_candidates_in_the_descriptions(
    xmpp_server: RunningServer,
) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        native_peer(xmpp_server, alice_jid, resource="phone") as alice,
        native_peer(xmpp_server, bob_jid, resource="laptop") as bob,
    ):
        call_id = await _talk(alice, bob)
        assert alice.local_candidates
        assert bob.local_candidates
        assert alice.remote_candidates == []
        assert bob.remote_candidates == []
        record = await call_record(xmpp_server, call_id, "ended")
    assert record.caller == alice_jid
    assert record.callee == bob_jid
    assert record.answered_by == bob.jid
    assert record.media == ("audio", "video")
    assert record.active_at is not None
    assert record.end_reason == "hangup"
    assert record.ended_by == alice.jid


async def test_native_devices_call_with_trickled_candidates(xmpp_server: RunningServer) -> None:
    """As Conversations does: empty transports in session-initiate/-accept, every candidate in
    its own transport-info; this time bob calls alice."""
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        native_peer(xmpp_server, alice_jid, resource="phone", trickle=True) as alice,
        native_peer(xmpp_server, bob_jid, resource="laptop", trickle=True) as bob,
    ):
        call_id = await _talk(bob, alice)
        assert sorted(alice.remote_candidates) == sorted(bob.local_candidates)
        assert sorted(bob.remote_candidates) == sorted(alice.local_candidates)
        record = await call_record(xmpp_server, call_id, "ended")
    assert record.caller == bob_jid
    assert record.answered_by == alice.jid
    assert record.end_reason == "hangup"
    assert record.ended_by == bob.jid
