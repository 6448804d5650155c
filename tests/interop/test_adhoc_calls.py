"""The call commands (``urn:xmpp-video:admin#…``) against live calls.

Alice (a Conversations-style peer) is in an active call with Bob; Carol (a JSON app) rings Dave
(another JSON app). The admin lists both, ends each through the two-stage ``end-call`` command,
and every party hears of it: native peers get the JMI ending with the text
``terminated_by_admin``, JSON apps ``call_ended {reason: terminated_by_admin}``, and the record
says who ended it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from tests.integration.http.jsonclient import json_client
from tests.interop.adhoc import (
    CALLS,
    expect_error,
    register_plugins,
    run_command,
    run_single_stage,
)
from tests.interop.jingle_peer import call_peer
from tests.interop.slix import connected
from tests.server_fixtures import RunningServer, make_settings
from xmpp_video.config import Settings
from xmpp_video.storage.repositories import CallRecord

pytestmark = pytest.mark.asyncio
LIST_CALLS = f"{CALLS}#list-calls"
END_CALL = f"{CALLS}#end-call"
CALL_STATS = f"{CALLS}#call-stats"


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, admins="admin@localhost", ring_timeout=30)


async def _record(server: RunningServer, call_id: str, state: str) -> CallRecord:
    async with asyncio.timeout(10):
        while True:
            record = await server.server.storage.calls.get(call_id)
            if record is not None and record.state == state:
                return record
            await asyncio.sleep(0.05)


async def test_list_and_end_live_calls_reach_every_party(xmpp_server: RunningServer) -> None:
    for user in ("admin", "alice", "bob", "carol", "dave"):
        await xmpp_server.add_user(user)
    async with (
        connected(xmpp_server, "admin@localhost/console") as admin,
        call_peer(xmpp_server, "alice@localhost", resource="tablet") as alice,
        call_peer(xmpp_server, "bob@localhost", resource="phone") as bob,
        json_client(xmpp_server, "carol") as carol,
        json_client(xmpp_server, "dave") as dave,
    ):
        register_plugins(admin)
        empty = await run_command(admin, END_CALL)
        assert (empty.status, empty.notes) == ("completed", [("info", "There is no active call.")])

        # a native call, up to an active Jingle session
        native = alice.propose("bob@localhost", media=("audio", "video"))
        await bob.next_jmi("propose", call_id=native)
        bob.ringing(alice.jid, native)
        bob.accept_elsewhere(native)
        bob.proceed(alice.jid, native)
        await alice.next_jmi("proceed", call_id=native)
        await alice.session_initiate(bob.jid, native)
        await bob.next_jingle("session-initiate", sid=native)
        await bob.session_accept(alice.jid, native)
        await _record(xmpp_server, native, "active")
        # a JSON call, ringing
        await carol.send(type="call_initiate", to="dave", call_type="audio", id=1)
        web = (await carol.next("call_initiated", ref=1))["call_id"]
        await dave.next("call_incoming", call_id=web)
        await carol.next("call_ringing", call_id=web)

        listed = await run_command(admin, LIST_CALLS)
        assert listed.status == "completed"
        assert listed.fields["count"] == "2"
        assert {"call", "caller", "callee", "state", "since", "devices"} <= set(listed.reported)
        rows = {item["call"]: item for item in listed.items}
        assert set(rows) == {native, web}
        assert rows[native]["caller"] == alice.jid
        assert rows[native]["callee"] == "bob@localhost"
        assert rows[native]["state"] == "active"
        assert rows[native]["answered_by"] == bob.jid
        assert bob.jid in rows[native]["devices"]
        assert dt.datetime.fromisoformat(rows[native]["since"]) <= dt.datetime.now(dt.UTC)
        assert rows[web]["caller"].startswith("carol@localhost/json-")
        assert rows[web]["callee"] == "dave@localhost"

        # end-call, two stages: pick the call (next), go back (prev), pick again, confirm
        pick = await run_command(admin, END_CALL)
        assert (pick.status, pick.actions, pick.default_action) == ("executing", {"next"}, "next")
        assert set(pick.options["call"]) == {native, web}
        confirm = await run_command(
            admin, END_CALL, action="next", sessionid=pick.sessionid, values={"call": native}
        )
        assert confirm.actions == {"prev", "complete"}
        assert confirm.default_action == "complete"
        assert confirm.fields["caller"] == alice.jid
        assert confirm.field_types["confirm"] == "boolean"
        back = await run_command(admin, END_CALL, action="prev", sessionid=pick.sessionid)
        assert back.fields["call"] == native  # remembered
        assert back.actions == {"next"}
        error = await expect_error(
            admin, END_CALL, action="complete", sessionid=pick.sessionid, values={"call": native}
        )
        assert error.specific == "bad-action"  # stage 1 of 2: complete is not offered
        error = await expect_error(
            admin, END_CALL, action="next", sessionid=pick.sessionid, values={"call": "nope"}
        )
        assert (error.specific, "not one of the options" in error.text) == ("bad-payload", True)
        await run_command(
            admin, END_CALL, action="execute", sessionid=pick.sessionid, values={"call": native}
        )  # execute = the stage's default action (next)
        error = await expect_error(
            admin,
            END_CALL,
            action="complete",
            sessionid=pick.sessionid,
            values={"confirm": "maybe"},
        )
        assert error.specific == "bad-payload"
        done = await run_command(
            admin,
            END_CALL,
            action="complete",
            sessionid=pick.sessionid,
            values={"confirm": "true"},
        )
        assert done.status == "completed"
        assert done.notes == [("info", f"Call {native} ended; both parties were told.")]
        for peer, other in ((alice, bob), (bob, alice)):
            finish = await peer.next_jmi("finish", call_id=native, from_=other.jid)
            assert finish.reason_text == "terminated_by_admin"
        record = await _record(xmpp_server, native, "ended")
        assert (record.end_reason, record.ended_by) == ("terminated_by_admin", "admin@localhost")

        # the JSON call, still ringing: both apps are told
        pick = await run_command(admin, END_CALL)
        assert pick.options["call"] == [web]
        await run_command(
            admin, END_CALL, action="next", sessionid=pick.sessionid, values={"call": web}
        )
        done = await run_command(
            admin, END_CALL, action="complete", sessionid=pick.sessionid, values={"confirm": "1"}
        )
        assert done.status == "completed"
        for app in (carol, dave):
            ended = await app.next("call_ended", call_id=web)
            assert ended["reason"] == "terminated_by_admin"
        record = await _record(xmpp_server, web, "ended")
        assert (record.end_reason, record.ended_by) == ("terminated_by_admin", "admin@localhost")
        assert xmpp_server.app.calls.live_calls() == []
        listed = await run_command(admin, LIST_CALLS)
        assert (listed.fields["count"], listed.items) == ("0", [])


async def test_end_call_declined_or_gone_meanwhile(xmpp_server: RunningServer) -> None:
    for user in ("admin", "alice", "bob"):
        await xmpp_server.add_user(user)
    async with (
        connected(xmpp_server, "admin@localhost") as admin,
        call_peer(xmpp_server, "alice@localhost") as alice,
        call_peer(xmpp_server, "bob@localhost") as bob,
    ):
        register_plugins(admin)
        call_id = alice.propose("bob@localhost", media=("audio",))
        await bob.next_jmi("propose", call_id=call_id)
        pick = await run_command(admin, END_CALL)
        await run_command(
            admin, END_CALL, action="next", sessionid=pick.sessionid, values={"call": call_id}
        )
        kept = await run_command(
            admin,
            END_CALL,
            action="complete",
            sessionid=pick.sessionid,
            values={"confirm": "false"},
        )
        assert kept.notes == [("info", f"Call {call_id} was left alone.")]
        assert [c.call_id for c in xmpp_server.app.calls.live_calls()] == [call_id]

        pick = await run_command(admin, END_CALL)
        confirm = await run_command(
            admin, END_CALL, action="next", sessionid=pick.sessionid, values={"call": call_id}
        )
        alice.retract("bob@localhost", call_id)  # the caller gives up while the admin hesitates
        await _record(xmpp_server, call_id, "ended")
        done = await run_command(
            admin,
            END_CALL,
            action="complete",
            sessionid=confirm.sessionid,
            values={"confirm": "true"},
        )
        assert done.notes == [("error", f"call {call_id} is not active any more")]
        record = await _record(xmpp_server, call_id, "ended")
        assert (record.end_reason, record.ended_by) == ("cancelled", alice.jid)


async def test_call_stats_over_a_period(xmpp_server: RunningServer) -> None:
    for user in ("admin", "alice", "bob"):
        await xmpp_server.add_user(user)
    async with (
        connected(xmpp_server, "admin@localhost") as admin,
        call_peer(xmpp_server, "alice@localhost") as alice,
        call_peer(xmpp_server, "bob@localhost") as bob,
    ):
        register_plugins(admin)
        # answered and set up, then hung up
        answered = alice.propose("bob@localhost")
        await bob.next_jmi("propose", call_id=answered)
        bob.proceed(alice.jid, answered)
        await alice.next_jmi("proceed", call_id=answered)
        await alice.session_initiate(bob.jid, answered)
        await bob.session_accept(alice.jid, answered)
        await _record(xmpp_server, answered, "active")
        await alice.session_terminate(bob.jid, answered)
        await _record(xmpp_server, answered, "ended")
        # declined
        declined = alice.propose("bob@localhost")
        await bob.next_jmi("propose", call_id=declined)
        bob.reject(alice.jid, declined)
        await _record(xmpp_server, declined, "ended")

        form = await run_command(admin, CALL_STATS)
        assert form.fields["hours"] == "24"
        stats = await run_command(
            admin, CALL_STATS, action="complete", sessionid=form.sessionid, values={"hours": "1"}
        )
        fields = stats.fields
        assert (fields["total"], fields["answered"], fields["live"]) == ("2", "1", "0")
        assert fields["answer_rate"] == "50.0"
        assert (fields["outcome-hangup"], fields["outcome-declined"]) == ("1", "1")
        assert fields["outcome-terminated_by_admin"] == "0"
        assert float(fields["setup_time_mean"]) >= 0
        assert fields["setup_time_mean"] == fields["setup_time_p95"]  # one value
        assert float(fields["answer_time_p95"]) >= 0

        past = await run_single_stage(
            admin,
            CALL_STATS,
            {"start": "2001-01-01T00:00:00Z", "end": "2001-01-02T00:00:00Z"},
        )
        assert (past.fields["total"], past.fields["answer_rate"]) == ("0", "n/a")
        assert past.fields["setup_time_p95"] == "n/a"
        for values, needle in (
            ({"hours": "0"}, "between 1 and"),
            ({"hours": "many"}, "whole number"),
            ({"start": "yesterday"}, "date and time"),
            ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "before the end"),
        ):
            form = await run_command(admin, CALL_STATS)
            error = await expect_error(
                admin, CALL_STATS, action="complete", sessionid=form.sessionid, values=values
            )
            assert error.specific == "bad-payload", values
            assert needle in error.text, (values, error.text)
