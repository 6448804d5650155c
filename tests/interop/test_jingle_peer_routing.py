"""The Conversations-style call peer (tests/interop/jingle_peer.py) through the server's routing.

Only what the router already does (SPEC §10): JMI to a bare JID reaches every available device
whatever its priority, the sender excepted; JMI and Jingle iqs to full JIDs reach that resource;
payloads pass through untouched. No call process is involved.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.interop.jingle_peer import (
    AUDIO_CONTENT,
    ICE_UDP,
    JINGLE,
    RTP,
    VIDEO_CONTENT,
    Candidate,
    JingleIqError,
    call_peer,
    element_signature,
)
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio


async def test_call_between_alice_and_two_devices_of_bob(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, alice_jid, resource="tablet") as alice,
        call_peer(xmpp_server, bob_jid, resource="phone", priority=1) as phone,
        call_peer(xmpp_server, bob_jid, resource="laptop", priority=-1) as laptop,
    ):
        assert phone.jid == f"{bob_jid}/phone"
        assert laptop.jid == f"{bob_jid}/laptop"

        # the negative priority is in effect: a plain chat message reaches the phone only
        alice.client.make_message(mto=bob_jid, mbody="hello", mtype="chat").send()
        assert (await phone.client.next_message())["body"] == "hello"

        # JMI to the bare JID rings every device, the negative-priority one too
        call_id = alice.propose(bob_jid, media=("audio", "video"))
        for device in (phone, laptop):
            propose = await device.next_jmi("propose", call_id=call_id)
            assert propose.from_ == alice.jid
            assert propose.to == bob_jid
            assert propose.type == "chat"
            assert propose.media == ("audio", "video")
            assert propose.store_hint
            assert propose.message_id == f"jm-propose-{call_id}"
            assert not propose.forwarded
            assert not propose.delayed
        assert laptop.client.messages.empty()  # the chat message did not reach it

        # the phone rings and answers: ringing and proceed to alice's full JID
        phone.ringing(alice.jid, call_id)
        ringing = await alice.next_jmi("ringing", call_id=call_id)
        assert ringing.from_ == phone.jid
        assert ringing.to == alice.jid

        phone.accept_elsewhere(call_id)
        phone.proceed(alice.jid, call_id)
        proceed = await alice.next_jmi("proceed", call_id=call_id)
        assert proceed.from_ == phone.jid
        assert proceed.message_id == f"jm-proceed-{call_id}"

        # the accept to bob's own bare JID stops the laptop, not echoed to the phone
        accept = await laptop.next_jmi("accept", call_id=call_id)
        assert accept.from_ == phone.jid
        assert accept.to == bob_jid
        await phone.expect_no_jmi("accept", call_id=call_id)
        await alice.expect_no_jmi("accept", call_id=call_id, within=0.1)
        await laptop.expect_no_jmi("ringing", within=0.1)
        await laptop.expect_no_jmi("proceed", within=0.1)

        # Jingle between the full JIDs; the JMI id is the sid
        offer = alice.build_session_initiate(call_id)
        result = await alice.session_initiate(phone.jid, call_id, jingle=offer)
        assert result["type"] == "result"
        assert str(result["from"]) == phone.jid
        initiate = await phone.next_jingle("session-initiate", sid=call_id)
        assert initiate.from_ == alice.jid
        assert initiate.initiator == alice.jid
        assert element_signature(initiate.element) == element_signature(offer)
        assert [c.get("name") for c in initiate.contents()] == [AUDIO_CONTENT, VIDEO_CONTENT]
        [audio_fp, video_fp] = initiate.fingerprints()
        for fingerprint in (audio_fp, video_fp):
            assert fingerprint.get("hash") == "sha-256"
            assert fingerprint.get("setup") == "actpass"
            assert fingerprint.text == alice.media.fingerprint
        opus = initiate.payload_types(AUDIO_CONTENT)[0]
        assert (opus.get("id"), opus.get("name"), opus.get("clockrate"), opus.get("channels")) == (
            "111",
            "opus",
            "48000",
            "2",
        )
        assert [p.get("name") for p in initiate.payload_types(VIDEO_CONTENT)] == ["VP8", "rtx"]
        transport = initiate.content(AUDIO_CONTENT).find(f"{{{ICE_UDP}}}transport")
        assert transport is not None
        assert transport.get("ufrag") == alice.media.ufrag
        assert transport.get("pwd") == alice.media.pwd
        assert len(initiate.candidates()) == 2 * len(alice.media.candidates)
        await laptop.expect_no_jingle(within=0.1)

        answer = phone.build_session_accept(call_id)
        result = await phone.session_accept(alice.jid, call_id, jingle=answer)
        assert result["type"] == "result"
        accepted = await alice.next_jingle("session-accept", sid=call_id)
        assert accepted.from_ == phone.jid
        assert accepted.responder == phone.jid
        assert element_signature(accepted.element) == element_signature(answer)
        assert {f.get("setup") for f in accepted.fingerprints()} == {"active"}
        assert {f.text for f in accepted.fingerprints()} == {phone.media.fingerprint}
        description = accepted.content(VIDEO_CONTENT).find(f"{{{RTP}}}description")
        assert description is not None
        assert description.find(f"{{{RTP}}}rtcp-mux") is not None

        # trickle ICE both ways
        srflx = Candidate(
            "198.51.100.7",
            61000,
            foundation="3",
            type="srflx",
            priority=1686052607,
            rel_addr="192.0.2.10",
            rel_port=50000,
        )
        trickle = alice.build_transport_info(call_id, srflx)
        result = await alice.transport_info(phone.jid, call_id, srflx, jingle=trickle)
        assert result["type"] == "result"
        info = await phone.next_jingle("transport-info", sid=call_id)
        assert element_signature(info.element) == element_signature(trickle)
        [candidate] = info.candidates()
        assert candidate.attrib == srflx.to_element().attrib

        await phone.transport_info(alice.jid, call_id, phone.media.candidates[0])
        info = await alice.next_jingle("transport-info", sid=call_id)
        assert [c.get("ip") for c in info.candidates()] == [phone.media.candidates[0].ip]

        # hang up, then both sides send finish to the other's bare JID
        result = await alice.session_terminate(phone.jid, call_id)
        assert result["type"] == "result"
        terminate = await phone.next_jingle("session-terminate", sid=call_id)
        assert terminate.reason == "success"

        alice.finish(bob_jid, call_id)
        for device in (phone, laptop):
            finish = await device.next_jmi("finish", call_id=call_id)
            assert finish.reason == "success"
            assert finish.from_ == alice.jid
        phone.finish(alice_jid, call_id)
        finish = await alice.next_jmi("finish", call_id=call_id)
        assert finish.from_ == phone.jid
        assert finish.reason == "success"

        # every Jingle iq went to exactly one resource
        assert [j.action for j in laptop.jingle.received] == []
        assert [j.action for j in phone.jingle.received] == [
            "session-initiate",
            "transport-info",
            "session-terminate",
        ]
        assert [j.action for j in alice.jingle.received] == ["session-accept", "transport-info"]


async def test_reject_and_retract(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, alice_jid, resource="tablet") as alice,
        call_peer(xmpp_server, bob_jid, resource="phone") as phone,
        call_peer(xmpp_server, bob_jid, resource="laptop", priority=-5) as laptop,
    ):
        # the laptop refuses: busy to the caller, and to its own bare JID for the phone
        call_id = alice.propose(bob_jid, media=("audio",))
        for device in (phone, laptop):
            assert (await device.next_jmi("propose", call_id=call_id)).media == ("audio",)
        laptop.reject(alice.jid, call_id, reason="busy")
        laptop.reject(bob_jid, call_id, reason="busy")
        rejected = await alice.next_jmi("reject", call_id=call_id)
        assert (rejected.from_, rejected.reason) == (laptop.jid, "busy")
        rejected = await phone.next_jmi("reject", call_id=call_id)
        assert (rejected.from_, rejected.reason) == (laptop.jid, "busy")
        await laptop.expect_no_jmi("reject")

        # alice gives up on a second call before anyone answers
        call_id = alice.propose(bob_jid)
        for device in (phone, laptop):
            await device.next_jmi("propose", call_id=call_id)
        alice.retract(bob_jid, call_id)
        for device in (phone, laptop):
            retract = await device.next_jmi("retract", call_id=call_id)
            assert retract.reason == "cancel"
            assert retract.from_ == alice.jid


async def test_propose_while_offline_is_delivered_later_with_delay(
    xmpp_server: RunningServer,
) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with call_peer(xmpp_server, alice_jid) as alice:
        call_id = alice.propose(bob_jid, media=("audio",))
        await asyncio.sleep(0.3)
        async with call_peer(xmpp_server, bob_jid, resource="phone") as phone:
            propose = await phone.next_jmi("propose", call_id=call_id)
            assert propose.delayed
            assert propose.from_ == alice.jid
            assert propose.media == ("audio",)


async def test_jingle_iq_errors_are_raised(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, alice_jid) as alice,
        call_peer(xmpp_server, bob_jid, resource="phone", auto_ack=False) as phone,
    ):
        # a resource that is not online: the server answers service-unavailable
        with pytest.raises(JingleIqError) as raised:
            await alice.session_initiate(f"{bob_jid}/gone", "sid-1")
        assert raised.value.condition == "service-unavailable"

        # the peer refuses the session: its error comes back to the initiator
        sending = asyncio.create_task(alice.session_initiate(phone.jid, "sid-2"))
        initiate = await phone.next_jingle("session-initiate", sid="sid-2")
        phone.reply_error(initiate)
        with pytest.raises(JingleIqError) as raised:
            await sending
        assert raised.value.condition == "item-not-found"
        assert raised.value.jingle_condition == "unknown-session"

        # no answer at all
        with pytest.raises(TimeoutError):
            await alice.send_jingle(
                phone.jid, alice.build_session_initiate("sid-3", ("audio",)), timeout=0.5
            )
        late = await phone.next_jingle("session-initiate", sid="sid-3")
        assert late.element.find(f"{{{JINGLE}}}content") is not None
        assert phone.jingle.pending == []
