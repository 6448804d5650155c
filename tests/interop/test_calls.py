"""The server's call processes, driven by Conversations-style peers (tests/interop/jingle_peer.py).

Each test plays a call the way Conversations does (JMI propose with a store hint → ringing →
proceed + accept → Jingle session-initiate/accept/transport-info/terminate) and checks what the
users see and what the server recorded in ``call_session``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from tests.interop.calls_support import call_record
from tests.interop.jingle_peer import Candidate, call_peer
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.calls.machine import Call
from xmpp_video.config import Settings
from xmpp_video.storage.repositories import CallRecord

pytestmark = pytest.mark.asyncio
RING_TIMEOUT = 2


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, ring_timeout=RING_TIMEOUT)


async def test_answered_call_is_recorded_from_propose_to_hangup(
    xmpp_server: RunningServer,
) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, alice_jid, resource="tablet") as alice,
        call_peer(xmpp_server, bob_jid, resource="phone") as phone,
        call_peer(xmpp_server, bob_jid, resource="laptop", priority=-1) as laptop,
    ):
        call_id = alice.propose(bob_jid, media=("audio", "video"))
        for device in (phone, laptop):
            await device.next_jmi("propose", call_id=call_id)
            device.ringing(alice.jid, call_id)
        ringing = await call_record(xmpp_server, call_id, "ringing")
        assert ringing.caller == alice_jid
        assert ringing.caller_device == alice.jid
        assert ringing.callee == bob_jid
        assert ringing.media == ("audio", "video")
        assert calls_live(xmpp_server) == [call_id]

        phone.accept_elsewhere(call_id)
        phone.proceed(alice.jid, call_id)
        await alice.next_jmi("proceed", call_id=call_id)
        assert (await laptop.next_jmi("accept", call_id=call_id)).from_ == phone.jid
        await alice.session_initiate(phone.jid, call_id)
        await phone.next_jingle("session-initiate", sid=call_id)
        await phone.session_accept(alice.jid, call_id)
        candidate = Candidate(foundation="2", component=1, ip="192.0.2.7", port=50002)
        await alice.transport_info(phone.jid, call_id, candidate)
        active = await call_record(xmpp_server, call_id, "active")
        assert active.answered_by == phone.jid
        assert set(active.devices) == {phone.jid, laptop.jid}

        await phone.session_terminate(alice.jid, call_id, reason="success")
        ended = await call_record(xmpp_server, call_id, "ended")
    assert ended.end_reason == "hangup"
    assert ended.ended_by == phone.jid
    assert ended.answered_at is not None
    assert ended.active_at is not None
    assert ended.ended_at is not None
    assert ended.proposed_at <= ended.answered_at <= ended.active_at <= ended.ended_at
    assert calls_live(xmpp_server) == []
    metrics = xmpp_server.app.calls.stats
    assert metrics.outcomes["hangup"] == 1
    assert metrics.answer_time.counts[-1] == 1
    assert metrics.session_time.counts[-1] == 1


def calls_live(server: RunningServer) -> list[str]:
    return [call.call_id for call in server.app.calls.live_calls()]


async def test_reject_busy_and_retract_are_recorded(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, alice_jid) as alice,
        call_peer(xmpp_server, bob_jid) as bob,
    ):
        busy = alice.propose(bob_jid, media=("audio",))
        await bob.next_jmi("propose", call_id=busy)
        bob.reject(alice.jid, busy, reason="busy")
        assert (await alice.next_jmi("reject", call_id=busy)).reason == "busy"
        assert (await call_record(xmpp_server, busy, "ended")).end_reason == "busy"

        cancelled = alice.propose(bob_jid)
        await bob.next_jmi("propose", call_id=cancelled)
        alice.retract(bob_jid, cancelled)
        await bob.next_jmi("retract", call_id=cancelled)
        record = await call_record(xmpp_server, cancelled, "ended")
        assert record.end_reason == "cancelled"
        assert record.ended_by == alice.jid


async def test_ring_timeout_stops_every_device(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, alice_jid) as alice,
        call_peer(xmpp_server, bob_jid, resource="phone") as phone,
        call_peer(xmpp_server, bob_jid, resource="laptop") as laptop,
    ):
        call_id = alice.propose(bob_jid)
        for device in (phone, laptop):
            await device.next_jmi("propose", call_id=call_id)
            device.ringing(alice.jid, call_id)
        # nobody answers: after RING_TIMEOUT both devices stop ringing and alice learns why
        for device in (phone, laptop):
            retract = await device.next_jmi("retract", call_id=call_id, timeout=RING_TIMEOUT + 5)
            assert retract.reason == "timeout"
            assert retract.from_ == alice.jid
        rejected = await alice.next_jmi("reject", call_id=call_id)
        assert rejected.reason == "timeout"
        record = await call_record(xmpp_server, call_id, "ended")
    assert record.end_reason == "timeout"
    assert record.ended_at is not None
    waited = record.ended_at - record.proposed_at
    assert dt.timedelta(seconds=RING_TIMEOUT) <= waited < dt.timedelta(seconds=RING_TIMEOUT + 2)


async def test_offline_callee_caller_learns_at_once_and_callee_sees_a_missed_call(
    xmpp_server: RunningServer,
) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with call_peer(xmpp_server, alice_jid) as alice:
        call_id = alice.propose(bob_jid, media=("audio",))
        rejected = await alice.next_jmi("reject", call_id=call_id, timeout=3)  # not the timeout
        assert rejected.reason == "gone"
        assert (await call_record(xmpp_server, call_id, "ended")).end_reason == "unavailable"
    async with call_peer(xmpp_server, bob_jid) as bob:
        # the stored propose is followed by its retract: a missed call, not a live one
        propose = await bob.next_jmi("propose", call_id=call_id)
        assert propose.delayed
        retract = await bob.next_jmi("retract", call_id=call_id)
        assert retract.delayed
        assert calls_live(xmpp_server) == []


async def test_caller_disconnecting_while_ringing_cancels(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with call_peer(xmpp_server, bob_jid) as bob:
        async with call_peer(xmpp_server, alice_jid) as alice:
            call_id = alice.propose(bob_jid)
            await bob.next_jmi("propose", call_id=call_id)
        retract = await bob.next_jmi("retract", call_id=call_id)
        assert retract.reason == "cancel"
        assert (await call_record(xmpp_server, call_id, "ended")).end_reason == "cancelled"


async def test_a_crashing_call_ends_alone(
    xmpp_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    carol_jid = await xmpp_server.add_user("carol")
    doomed: set[str] = set()
    real_apply = Call.apply

    def apply(self: Call, event: object, now: float) -> object:
        if self.call_id in doomed and self.live and self.state.value == "ringing":
            raise RuntimeError("a bug in one call")
        return real_apply(self, event, now)  # type: ignore[arg-type]

    monkeypatch.setattr(Call, "apply", apply)
    async with (
        call_peer(xmpp_server, alice_jid) as alice,
        call_peer(xmpp_server, bob_jid) as bob,
        call_peer(xmpp_server, carol_jid) as carol,
    ):
        bad = alice.propose(bob_jid)
        good = alice.propose(carol_jid)
        doomed.add(bad)
        await bob.next_jmi("propose", call_id=bad)
        await carol.next_jmi("propose", call_id=good)
        bob.ringing(alice.jid, bad)
        carol.ringing(alice.jid, good)
        await call_record(xmpp_server, bad, "ringing")
        bob.proceed(alice.jid, bad)  # this event crashes the bad call's process
        failed = await call_record(xmpp_server, bad, "ended")
        assert failed.end_reason == "failed"
        # the other call goes on as if nothing happened
        carol.proceed(alice.jid, good)
        await alice.session_initiate(carol.jid, good)
        await carol.session_accept(alice.jid, good)
        await call_record(xmpp_server, good, "active")
        await alice.session_terminate(carol.jid, good)
        assert (await call_record(xmpp_server, good, "ended")).end_reason == "hangup"


async def test_calls_are_rebuilt_after_a_restart(tmp_path: Path, database_url: str) -> None:
    """A node that died mid-call: its rows say ringing/active. On start, a ringing call past
    its timeout is ended (missed call stored for the callee), a fresh one rings on until its
    timeout, and an active one goes on and ends normally when the parties hang up."""
    settings = make_settings(tmp_path, database_url, ring_timeout=RING_TIMEOUT)
    async with running_server(settings) as first:
        await first.add_user("alice")
        await first.add_user("bob")
        node = first.server.node_id
        storage = first.server.storage
        now = dt.datetime.now(dt.UTC)
        base = {
            "caller": "alice@localhost",
            "caller_device": "alice@localhost/tablet",
            "callee": "bob@localhost",
            "media": ("audio",),
            "node_id": node,
        }
        await storage.calls.save(
            CallRecord(
                call_id="stale", state="ringing", proposed_at=now - dt.timedelta(minutes=5), **base
            )  # type: ignore[arg-type]
        )
        await storage.calls.save(
            CallRecord(call_id="fresh", state="ringing", proposed_at=now, **base)  # type: ignore[arg-type]
        )
        await storage.calls.save(
            CallRecord(
                call_id="talking",
                state="active",
                proposed_at=now - dt.timedelta(seconds=30),
                answered_by="bob@localhost/phone",
                answered_at=now - dt.timedelta(seconds=25),
                active_at=now - dt.timedelta(seconds=24),
                **base,  # type: ignore[arg-type]
            )
        )
    async with running_server(settings) as second:
        assert (await call_record(second, "stale", "ended")).end_reason == "timeout"
        assert set(calls_live(second)) == {"fresh", "talking"}
        async with (
            call_peer(second, "alice@localhost", resource="tablet") as alice,
            call_peer(second, "bob@localhost", resource="phone") as bob,
        ):
            missed = await bob.next_jmi("retract", call_id="stale")
            assert missed.delayed
            assert (await call_record(second, "fresh", "ended")).end_reason == "timeout"
            await bob.session_terminate(alice.jid, "talking")
            assert (await call_record(second, "talking", "ended")).end_reason == "hangup"
        assert calls_live(second) == []


async def test_shutdown_ends_live_calls_and_tells_the_parties(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        call_peer(xmpp_server, alice_jid) as alice,
        call_peer(xmpp_server, bob_jid) as bob,
    ):
        call_id = alice.propose(bob_jid)
        await bob.next_jmi("propose", call_id=call_id)
        bob.proceed(alice.jid, call_id)
        await alice.session_initiate(bob.jid, call_id)
        await bob.session_accept(alice.jid, call_id)
        await call_record(xmpp_server, call_id, "active")
        storage = xmpp_server.server.storage
        stopping = asyncio.create_task(xmpp_server.app.calls.shutdown())
        await stopping
        for peer in (alice, bob):
            finish = await peer.next_jmi("finish", call_id=call_id)
            assert finish.reason == "cancel"
        record = await call_record(xmpp_server, call_id, "ended")
        assert record.end_reason == "server_shutdown"
        assert storage is xmpp_server.server.storage
