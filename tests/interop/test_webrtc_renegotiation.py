"""Renegotiation and ICE restart between two JSON devices, with real WebRTC (aiortc on both
sides, media over loopback). The bridge speaks only Jingle, so each change crosses it twice:
JSON offer → Jingle action → the other JSON device's full offer → its answer → Jingle reply →
the first device's full answer.

See tests/interop/renegotiation_support.py for what aiortc cannot do (an ICE restart is played
by rewriting the credentials in the SDP).
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc.mediastreams import VideoStreamTrack

from tests.interop.calls_support import call_record
from tests.interop.json_webrtc import json_call
from tests.interop.renegotiation_support import (
    answer_offer,
    media_ports,
    offer_again,
    take_answer,
    ufrags,
)
from tests.server_fixtures import RunningServer

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(90),
]
FRAMES = 5


async def test_ice_restart_keeps_the_call_and_its_media(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with json_call(xmpp_server, video=True) as call:
        a, b, alice, bob, call_id = call.a, call.b, call.alice, call.bob, call.call_id
        await asyncio.gather(alice.connected(), bob.connected())
        await asyncio.gather(alice.frames(FRAMES, FRAMES), bob.frames(FRAMES, FRAMES))

        restart = await offer_again(alice, restart=True)
        offer, answer = await answer_offer(bob, restart=True)
        assert ufrags(offer) == ufrags(restart)  # bob got alice's new credentials
        assert offer.count("a=setup:actpass") == 2
        final = await take_answer(alice)
        assert ufrags(final) == ufrags(answer)  # and alice got bob's
        assert "a=setup:actpass" not in final
        assert [k for k, _ in media_ports(final)] == ["audio", "video"]

        before = (alice.video_frames, bob.video_frames)
        await alice.frames(before[0] + FRAMES, 0)
        await bob.frames(before[1] + FRAMES, 0)
        assert (await call_record(xmpp_server, call_id, "active")).end_reason is None
        await a.send(type="call_end", call_id=call_id)
        assert (await b.next("call_ended", call_id=call_id))["reason"] == "hangup"


async def test_audio_call_upgraded_to_video(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with json_call(xmpp_server, video=False) as call:
        a, b, alice, bob, call_id = call.a, call.b, call.alice, call.bob, call.call_id
        await asyncio.gather(alice.connected(), bob.connected())
        await asyncio.gather(alice.frames(0, FRAMES), bob.frames(0, FRAMES))
        assert alice.video_frames == bob.video_frames == 0

        alice.pc.addTrack(VideoStreamTrack())
        await offer_again(alice)
        offer, _ = await answer_offer(bob, track=VideoStreamTrack())
        assert [k for k, _ in media_ports(offer)] == ["audio", "video"]
        final = await take_answer(alice)
        assert [k for k, p in media_ports(final) if p] == ["audio", "video"]

        await asyncio.gather(alice.frames(FRAMES, FRAMES), bob.frames(FRAMES, FRAMES))
        assert (await call_record(xmpp_server, call_id, "active")).end_reason is None
        await b.send(type="call_end", call_id=call_id)
        assert (await a.next("call_ended", call_id=call_id))["reason"] == "hangup"


async def test_renegotiation_errors(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with json_call(xmpp_server, video=True) as call:
        a, b, alice, call_id = call.a, call.b, call.alice, call.call_id
        sdp = alice.pc.localDescription.sdp

        await a.send(type="sdp_answer", call_id=call_id, sdp=sdp, id="no-offer")
        assert (await a.next("error", ref="no-offer"))["code"] == "not_allowed"
        await a.send(type="sdp_offer", call_id=call_id, sdp="v=0\r\nm=audio", id="bad")
        assert (await a.next("error", ref="bad"))["code"] == "bad_request"
        audio_only = sdp[: sdp.index("m=video")]
        await a.send(type="sdp_offer", call_id=call_id, sdp=audio_only, id="drop")
        dropped = await a.next("error", ref="drop")
        assert dropped["code"] == "bad_request"
        assert "port 0" in dropped["message"]

        # the same offer again changes nothing: answered at once, nothing reaches bob
        await a.send(type="sdp_offer", call_id=call_id, sdp=sdp, id="same")
        same = await a.next("sdp_answer", call_id=call_id)
        assert [k for k, p in media_ports(same["sdp"]) if p] == ["audio", "video"]

        await offer_again(alice, restart=True, ref="first")
        await b.next("sdp_offer", call_id=call_id)  # bob does not answer yet
        await a.send(type="sdp_offer", call_id=call_id, sdp=sdp, id="second")
        assert (await a.next("error", ref="second"))["code"] == "not_allowed"
        await b.send(type="sdp_offer", call_id=call_id, sdp=sdp, id="bob")
        assert (await b.next("error", ref="bob"))["code"] == "not_allowed"
        assert not [m for m in a.backlog if m["type"] == "error" and m.get("ref") == "first"]
