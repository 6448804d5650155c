"""Renegotiation between a JSON device (aiortc) and a native Jingle peer
(tests/interop/jingle_peer.py, Conversations' stanzas, built without the product's code).

Native → JSON: ``transport-replace``, a Conversations ICE restart (``transport-info`` with new
credentials and no candidates) and ``content-add`` reach the JSON device as a full
``sdp_offer``; its ``sdp_answer`` goes back as ``transport-accept`` / ``transport-info`` /
``content-accept`` / ``content-reject``. JSON → native: ``content-modify``, the ICE restart
and ``content-remove``, answered with a full ``sdp_answer``. Glare and overlapping offers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import pytest
from aiortc.mediastreams import VideoStreamTrack

from tests.integration.http.jsonclient import json_client
from tests.interop.jingle_peer import (
    DTLS,
    ICE_UDP,
    JINGLE,
    RTP,
    Candidate,
    JingleIqError,
    JinglePeer,
    MediaSetup,
    bundle_group,
    call_peer,
    ice_transport,
    jingle_element,
    rtp_content,
)
from tests.interop.json_webrtc import JsonWebRtc
from tests.interop.renegotiation_support import (
    answer_offer,
    disable,
    media_ports,
    offer_again,
    take_answer,
    ufrags,
)
from tests.server_fixtures import RunningServer
from xmpp_video.bridge import renegotiation

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(90),
]


@dataclass
class Call:
    native: JinglePeer
    json: JsonWebRtc
    call_id: str
    json_jid: str  # the JSON device's full JID (its Jingle address)


@asynccontextmanager
async def native_calls_json(
    server: RunningServer, media: Sequence[str] = ("audio", "video")
) -> AsyncIterator[Call]:
    """alice (native, the session's initiator) in a call with bob's JSON device."""
    alice_jid = await server.add_user("alice")
    await server.add_user("bob")
    async with (
        call_peer(server, alice_jid, resource="phone") as alice,
        json_client(server, "bob") as b,
    ):
        bob = JsonWebRtc(b)
        try:
            answering = asyncio.create_task(bob.answer())
            call_id = alice.propose("bob@localhost", media=media)
            proceed = await alice.next_jmi("proceed", call_id=call_id)
            await alice.session_initiate(proceed.from_, call_id, media)
            await answering
            await alice.next_jingle("session-accept", sid=call_id)
            yield Call(alice, bob, call_id, proceed.from_)
        finally:
            await bob.close()


def _content(name: str, *children: Element) -> Element:
    content = Element(f"{{{JINGLE}}}content", {"creator": "initiator", "name": name})
    content.extend(children)
    return content


def _transport(jingle: Element, name: str) -> Element:
    for content in jingle.findall(f"{{{JINGLE}}}content"):
        if content.get("name") == name:
            transport = content.find(f"{{{ICE_UDP}}}transport")
            assert transport is not None
            return transport
    raise AssertionError(f"no content {name}")


def _names(jingle: Element) -> list[str]:
    return [c.get("name", "") for c in jingle.findall(f"{{{JINGLE}}}content")]


async def test_native_transport_replace_is_answered_with_transport_accept(
    xmpp_server: RunningServer,
) -> None:
    async with native_calls_json(xmpp_server) as call:
        fresh = MediaSetup.generate(host_ip="192.0.2.20")
        replace = jingle_element(
            "transport-replace",
            call.call_id,
            *(_content(name, ice_transport(fresh)) for name in ("0", "1")),
        )
        await call.native.send_jingle(call.json_jid, replace)
        offer, answer = await answer_offer(call.json, restart=True)
        assert ufrags(offer) == {fresh.ufrag}
        assert "192.0.2.20" in offer
        assert offer.count("a=setup:actpass") == 2

        accept = await call.native.next_jingle("transport-accept", sid=call.call_id)
        assert _names(accept.element) == ["0", "1"]
        transport = _transport(accept.element, "0")
        assert {transport.get("ufrag")} == ufrags(answer)
        fingerprint = transport.find(f"{{{DTLS}}}fingerprint")
        assert fingerprint is not None
        assert fingerprint.get("setup") in ("active", "passive")
        assert transport.findall(f"{{{ICE_UDP}}}candidate")


async def test_conversations_ice_restart_reaches_the_json_device(
    xmpp_server: RunningServer,
) -> None:
    async with native_calls_json(xmpp_server) as call:
        fresh = MediaSetup.generate(host_ip="192.0.2.30")
        restart = jingle_element(
            "transport-info",
            call.call_id,
            *(_content(name, ice_transport(fresh, candidates=[])) for name in ("0", "1")),
        )
        await call.native.send_jingle(call.json_jid, restart)
        offer, answer = await answer_offer(call.json, restart=True)
        assert ufrags(offer) == {fresh.ufrag}

        reply = await call.native.next_jingle("transport-info", sid=call.call_id)
        transport = _transport(reply.element, "0")
        assert {transport.get("ufrag")} == ufrags(answer)
        assert transport.findall(f"{{{ICE_UDP}}}candidate")  # the answer: candidates

        # candidates under the new credentials are candidates, not another restart
        candidate = Candidate("192.0.2.31", 50400, foundation="7")
        trickle = jingle_element(
            "transport-info",
            call.call_id,
            _content("0", ice_transport(fresh, dtls_setup=None, candidates=[candidate])),
        )
        await call.native.send_jingle(call.json_jid, trickle)
        got = await call.json.client.next("ice_candidate", call_id=call.call_id)
        assert "192.0.2.31" in got["candidate"]["candidate"]
        assert not [m for m in call.json.client.backlog if m["type"] == "sdp_offer"]


async def test_native_content_add_is_accepted(xmpp_server: RunningServer) -> None:
    async with native_calls_json(xmpp_server, media=("audio",)) as call:
        add = jingle_element(
            "content-add",
            call.call_id,
            rtp_content("video", call.native.media, dtls_setup="actpass"),
            bundle_group(["0", "1"]),
        )
        await call.native.send_jingle(call.json_jid, add)
        offer, answer = await answer_offer(call.json, track=VideoStreamTrack())
        assert [k for k, _ in media_ports(offer)] == ["audio", "video"]
        assert "a=group:BUNDLE 0 1" in offer

        accept = await call.native.next_jingle("content-accept", sid=call.call_id)
        assert _names(accept.element) == ["1"]
        description = accept.element.find(f"{{{JINGLE}}}content/{{{RTP}}}description")
        assert description is not None
        assert description.get("media") == "video"
        assert "VP8" in [p.get("name") for p in accept.payload_types("1")]
        assert {_transport(accept.element, "1").get("ufrag")} == ufrags(answer)
        await call.native.expect_no_jingle("content-reject", sid=call.call_id, within=0.2)


async def test_native_content_add_is_rejected_and_overlaps_are_refused(
    xmpp_server: RunningServer,
) -> None:
    async with native_calls_json(xmpp_server, media=("audio",)) as call:
        add = jingle_element(
            "content-add",
            call.call_id,
            rtp_content("video", call.native.media, dtls_setup="actpass"),
            bundle_group(["0", "1"]),
        )
        await call.native.send_jingle(call.json_jid, add)
        again = jingle_element("content-modify", call.call_id, _content("0"))
        again[0].set("senders", "initiator")  # a second offer before the answer
        with pytest.raises(JingleIqError) as refused:
            await call.native.send_jingle(call.json_jid, again)
        assert refused.value.condition == "unexpected-request"
        assert refused.value.jingle_condition == "out-of-order"

        _, answer = await answer_offer(call.json, send=False)
        await call.json.client.send(
            type="sdp_answer", call_id=call.call_id, sdp=disable(answer, "video")
        )
        reject = await call.native.next_jingle("content-reject", sid=call.call_id)
        assert _names(reject.element) == ["1"]
        await call.native.expect_no_jingle("content-accept", sid=call.call_id, within=0.2)

        # an answer with nothing to answer
        await call.json.client.send(type="sdp_answer", call_id=call.call_id, sdp=answer, id=9)
        assert (await call.json.client.next("error", ref=9))["code"] == "not_allowed"


async def test_json_changes_reach_the_native_peer(xmpp_server: RunningServer) -> None:
    async with native_calls_json(xmpp_server) as call:
        bob, alice = call.json, call.native
        # a direction: content-modify, agreed by the iq result
        video = next(t for t in bob.pc.getTransceivers() if t.kind == "video")
        video.direction = "sendonly"
        await offer_again(bob)
        modify = await alice.next_jingle("content-modify", sid=call.call_id)
        assert [(c.get("name"), c.get("senders")) for c in modify.contents()] == [
            ("1", "responder")
        ]
        answer = await take_answer(bob)
        assert "a=recvonly" in answer.split("m=video")[1]

        # an ICE restart: Conversations' transport-info, then the candidates
        restart = await offer_again(bob, restart=True)
        offer = await alice.next_jingle("transport-info", sid=call.call_id)
        assert {_transport(offer.element, n).get("ufrag") for n in ("0", "1")} == ufrags(restart)
        assert not offer.candidates()
        fingerprint = _transport(offer.element, "0").find(f"{{{DTLS}}}fingerprint")
        assert fingerprint is not None
        assert fingerprint.get("setup") == "actpass"
        candidates = await alice.next_jingle("transport-info", sid=call.call_id)
        assert {_transport(candidates.element, "0").get("ufrag")} == ufrags(restart)
        assert candidates.candidates()
        fresh = MediaSetup.generate(host_ip="192.0.2.40")
        await alice.send_jingle(
            call.json_jid,
            jingle_element(
                "transport-info",
                call.call_id,
                _content("0", ice_transport(fresh, dtls_setup=None)),
            ),
        )
        answer = await take_answer(bob)
        assert ufrags(answer) == {fresh.ufrag}
        assert "192.0.2.40" in answer
        assert "a=setup:active" in answer or "a=setup:passive" in answer

        # a removed m-line: content-remove, agreed by the iq result (aiortc cannot stop a
        # transceiver, so the SDP is written by hand, from the last offer sent)
        removed = disable(restart, "video")
        await bob.client.send(type="sdp_offer", call_id=call.call_id, sdp=removed)
        remove = await alice.next_jingle("content-remove", sid=call.call_id)
        assert _names(remove.element) == ["1"]
        answer = (await bob.client.next("sdp_answer", call_id=call.call_id))["sdp"]
        assert media_ports(answer)[1] == ("video", 0)
        assert "a=group:BUNDLE 0\r\n" in answer


async def test_glare_the_initiator_wins(xmpp_server: RunningServer) -> None:
    async with native_calls_json(xmpp_server, media=("audio",)) as call:
        bob, alice = call.json, call.native
        await offer_again(bob, restart=True, ref="mine")
        await alice.next_jingle("transport-info", sid=call.call_id)
        add = jingle_element(
            "content-add",
            call.call_id,
            rtp_content("video", alice.media, dtls_setup="actpass"),
            bundle_group(["0", "1"]),
        )
        await alice.send_jingle(call.json_jid, add)  # alice initiated the session: it wins
        dropped = await bob.client.next("error", ref="mine")
        assert dropped["code"] == "not_allowed"
        assert "roll back" in dropped["message"]
        offer = await bob.client.next("sdp_offer", call_id=call.call_id)
        assert [k for k, _ in media_ports(offer["sdp"])] == ["audio", "video"]


async def test_glare_the_responder_gets_tie_break(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        json_client(xmpp_server, "alice") as a,
        call_peer(xmpp_server, bob_jid, resource="phone") as bob,
    ):
        alice = JsonWebRtc(a)
        try:
            calling = asyncio.create_task(alice.call("bob", video=False))
            propose = await bob.next_jmi("propose")
            bob.proceed(propose.from_, propose.call_id)
            initiate = await bob.next_jingle("session-initiate", sid=propose.call_id)
            await bob.session_accept(initiate.from_, propose.call_id, ("audio",))
            call_id = await calling
            await offer_again(alice, restart=True)
            await bob.next_jingle("transport-info", sid=call_id)
            add = jingle_element(
                "content-add",
                call_id,
                rtp_content("video", bob.media, dtls_setup="actpass"),
                bundle_group(["0", "1"]),
            )
            add[0].set("creator", "responder")
            with pytest.raises(JingleIqError) as refused:
                await bob.send_jingle(initiate.from_, add)
            assert refused.value.condition == "conflict"
            assert refused.value.jingle_condition == "tie-break"
        finally:
            await alice.close()


async def test_malformed_native_changes_are_bad_requests(xmpp_server: RunningServer) -> None:
    async with native_calls_json(xmpp_server, media=("audio",)) as call:
        fresh = MediaSetup.generate()
        for jingle in (
            jingle_element("content-add", call.call_id, _content("1")),  # no description
            jingle_element(
                "transport-replace", call.call_id, _content("9", ice_transport(fresh))
            ),  # no such content
            jingle_element(
                "content-add",  # a content that exists already
                call.call_id,
                rtp_content("audio", call.native.media, dtls_setup="actpass"),
            ),
        ):
            with pytest.raises(JingleIqError) as refused:
                await call.native.send_jingle(call.json_jid, jingle)
            assert refused.value.condition == "bad-request"
        # nothing reached the JSON device, and the session still renegotiates
        assert not [m for m in call.json.client.backlog if m["type"] == "sdp_offer"]
        await call.native.send_jingle(
            call.json_jid,
            jingle_element("transport-replace", call.call_id, _content("0", ice_transport(fresh))),
        )
        offer, _ = await answer_offer(call.json, restart=True)
        assert ufrags(offer) == {fresh.ufrag}
        await call.native.next_jingle("transport-accept", sid=call.call_id)


async def test_a_refused_json_offer_is_reported_and_ends_the_renegotiation(
    xmpp_server: RunningServer,
) -> None:
    async with native_calls_json(xmpp_server, media=("audio",)) as call:
        bob, alice = call.json, call.native
        alice.auto_ack = False
        bob.pc.addTrack(VideoStreamTrack())
        offer = await offer_again(bob, ref="add")
        add = await alice.next_jingle("content-add", sid=call.call_id)
        assert [c.get("creator") for c in add.contents()] == ["responder"]
        alice.reply_error(add, "feature-not-implemented", None, "cancel")
        refused = await bob.client.next("error", ref="add")
        assert refused["code"] == "not_allowed"
        assert "roll back" in refused["message"]

        alice.auto_ack = True  # the next offer is a new renegotiation, not a second one
        await bob.client.send(type="sdp_offer", call_id=call.call_id, sdp=offer, id="again")
        await alice.next_jingle("content-add", sid=call.call_id)
        assert not [m for m in bob.client.backlog if m.get("ref") == "again"]


async def test_an_unanswered_json_offer_times_out_and_the_call_goes_on(
    xmpp_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native peer acknowledges a content-add but never accepts or rejects it: after the
    answer timeout the JSON device hears it must roll back, and may offer again."""
    monkeypatch.setattr(renegotiation, "ANSWER_TIMEOUT", 0.5)
    async with native_calls_json(xmpp_server, media=("audio",)) as call:
        bob, alice = call.json, call.native
        bob.pc.addTrack(VideoStreamTrack())
        offer = await offer_again(bob, ref="add")
        await alice.next_jingle("content-add", sid=call.call_id)  # acked, never answered
        expired = await bob.client.next("error", ref="add")
        assert expired["code"] == "not_allowed"
        assert "did not answer" in expired["message"]

        await bob.client.send(type="sdp_offer", call_id=call.call_id, sdp=offer, id="again")
        await alice.next_jingle("content-add", sid=call.call_id)
        assert not [m for m in bob.client.backlog if m.get("ref") == "again"]
