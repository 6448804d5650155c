"""XEP-0313 Message Archive Management as slixmpp's plugin (``xep_0313``) and raw iqs use it.

Romeo and Juliet talk; each then reads their own archive. Real sockets and TLS, on SQLite and
PostgreSQL. Archiving is written behind, but a query first writes what is queued, so a query
made after a message was received sees it without sleeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, fromstring

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Collector
from slixmpp.xmlstream.matcher import MatchXPath

from tests.interop.slix import TIMEOUT, Client, connected
from tests.server_fixtures import RunningServer, running_server
from xmpp_video.config import Settings
from xmpp_video.jid import JID as ServerJID
from xmpp_video.modules.mam import MAX_PAGE, MamModule

pytestmark = pytest.mark.asyncio

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
JMI = "urn:xmpp:jingle-message:0"
NO_STORE = "<no-store xmlns='urn:xmpp:hints'/>"


def propose(call_id: str) -> str:
    return (
        f"<propose xmlns='{JMI}' id='{call_id}'>"
        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>"
    )


@dataclass
class Archived:
    """One result of a query: the archive's id, its stamp, and the original message."""

    id: str
    stamp: dt.datetime
    original: Element

    @property
    def body(self) -> str | None:
        return self.original.findtext("{jabber:client}body")


@dataclass
class Page:
    results: list[Archived]
    fin: Element

    @property
    def bodies(self) -> list[str | None]:
        return [result.body for result in self.results]

    @property
    def complete(self) -> bool:
        return self.fin.get("complete") == "true"

    def rsm(self, name: str) -> str | None:
        return self.fin.findtext(f"{{{RSM}}}set/{{{RSM}}}{name}")

    @property
    def first_index(self) -> str | None:
        first = self.fin.find(f"{{{RSM}}}set/{{{RSM}}}first")
        return None if first is None else first.get("index")


def mam(client: Client) -> Any:
    if "xep_0313" not in client.plugin:
        client.register_plugin("xep_0313")
    return client.plugin["xep_0313"]


def _archived(message: Any) -> Archived:
    result = message.xml.find(f"{{{MAM}}}result")
    assert result is not None
    forwarded = result.find("{urn:xmpp:forward:0}forwarded")
    assert forwarded is not None
    delay = forwarded.find("{urn:xmpp:delay}delay")
    original = forwarded.find("{jabber:client}message")
    assert delay is not None
    assert original is not None
    stamp = dt.datetime.fromisoformat(delay.get("stamp", ""))
    return Archived(result.get("id", ""), stamp, original)


async def retrieve(client: Client, **kwargs: Any) -> Page:
    """A query through slixmpp's plugin: ``start``, ``end``, ``with_jid``, ``rsm``."""
    iq = await mam(client).retrieve(jid=JID(client.boundjid.bare), timeout=TIMEOUT, **kwargs)
    for message in iq["mam"]["results"]:
        assert str(message["from"]) == client.boundjid.bare, "results come from the archive"
        assert str(message["to"]) == client.boundjid.full
    fin = iq.xml.find(f"{{{MAM}}}fin")
    assert fin is not None
    return Page([_archived(message) for message in iq["mam"]["results"]], fin)


async def raw_query(client: Client, payload: str, *, to: str | None = None) -> Page:
    """Send ``payload`` (a ``<query/>``) as an iq set; the results are the MAM messages the
    client got before the iq result (the server sends them first, on the same stream)."""
    iq = client.make_iq_set(ito=to if to is not None else client.boundjid.bare)
    iq.xml.append(fromstring(payload))
    collector = Collector(
        f"raw-mam-{iq['id']}", MatchXPath(f"{{jabber:client}}message/{{{MAM}}}result")
    )
    client.register_handler(collector)
    try:
        reply = await iq.send(timeout=TIMEOUT)
    finally:
        results = collector.stop()
    fin = reply.xml.find(f"{{{MAM}}}fin")
    assert fin is not None
    return Page([_archived(message) for message in results], fin)


def form(*fields: tuple[str, str], form_type: str = MAM, type_: str = "submit") -> str:
    xml = [f"<x xmlns='jabber:x:data' type='{type_}'>"]
    xml.append(f"<field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>")
    xml.extend(f"<field var='{var}'><value>{value}</value></field>" for var, value in fields)
    xml.append("</x>")
    return "".join(xml)


async def error_condition(client: Client, payload: str, *, to: str | None = None) -> str:
    with pytest.raises(IqError) as raised:
        await raw_query(client, payload, to=to)
    condition: str = raised.value.iq["error"]["condition"]
    return condition


def send(client: Client, to: str, body: str | None, *extra: str, type_: str = "chat") -> None:
    message = client.make_message(mto=to, mbody=body, mtype=type_)
    for xml in extra:
        message.xml.append(fromstring(xml))
    message.send()


async def converse(sender: Client, receiver: Client, *bodies: str) -> None:
    """``sender`` sends each body to ``receiver``'s bare JID, which gets them all."""
    for body in bodies:
        send(sender, receiver.boundjid.bare, body)
    for body in bodies:
        assert (await receiver.next_message())["body"] == body


def mam_module(server: RunningServer) -> MamModule:
    (module,) = [m for m in server.app.modules if isinstance(m, MamModule)]
    return module


# -- archiving -------------------------------------------------------------------------------


async def test_a_conversation_is_in_both_archives_in_order(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, f"{romeo_jid}/orchard") as romeo,
        connected(xmpp_server, f"{juliet_jid}/balcony") as juliet,
    ):
        await converse(romeo, juliet, "hello", "art thou there?")
        await converse(juliet, romeo, "I am")
        send(romeo, juliet.boundjid.full, "to your resource")
        assert (await juliet.next_message())["body"] == "to your resource"

        mine = await retrieve(romeo)
        hers = await retrieve(juliet)

    expected = ["hello", "art thou there?", "I am", "to your resource"]
    assert mine.bodies == hers.bodies == expected
    assert mine.complete
    assert hers.complete
    assert (mine.rsm("count"), mine.first_index) == ("4", "0")
    assert mine.rsm("first") == mine.results[0].id
    assert mine.rsm("last") == mine.results[-1].id
    # each archive has its own ids; the originals keep their addresses
    assert {r.id for r in mine.results}.isdisjoint(r.id for r in hers.results)
    first = hers.results[0].original
    assert (first.get("from"), first.get("to")) == (f"{romeo_jid}/orchard", juliet_jid)
    assert first.get("type") == "chat"
    stamps = [result.stamp for result in mine.results]
    assert stamps == sorted(stamps)
    assert all(stamp.tzinfo is not None for stamp in stamps)
    assert dt.datetime.now(dt.UTC) - stamps[0] < dt.timedelta(minutes=1)


async def test_with_filters_by_contact_and_resource(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    nurse_jid = await xmpp_server.add_user("nurse")
    async with (
        connected(xmpp_server, f"{romeo_jid}/orchard") as romeo,
        connected(xmpp_server, f"{juliet_jid}/balcony") as juliet,
        connected(xmpp_server, f"{nurse_jid}/kitchen") as nurse,
    ):
        await converse(romeo, juliet, "to juliet")
        await converse(nurse, juliet, "from the nurse")
        await converse(juliet, romeo, "to romeo")
        send(juliet, juliet_jid, "a note to self")
        assert (await juliet.next_message())["body"] == "a note to self"

        with_romeo = await retrieve(juliet, with_jid=JID(romeo_jid))
        with_nurse = await retrieve(juliet, with_jid=JID(nurse_jid))
        with_orchard = await retrieve(juliet, with_jid=JID(f"{romeo_jid}/orchard"))
        to_self = await retrieve(juliet, with_jid=JID(juliet_jid))

    assert with_romeo.bodies == ["to juliet", "to romeo"]
    assert with_nurse.bodies == ["from the nurse"]
    # a full JID: only what came from (or went to) that very resource
    assert with_orchard.bodies == ["to juliet"]
    assert to_self.bodies == ["a note to self"]
    assert with_romeo.rsm("count") == "2"


async def test_start_and_end(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await converse(romeo, juliet, "one", "two")
        await asyncio.sleep(0.05)
        middle = dt.datetime.now(dt.UTC)
        await asyncio.sleep(0.05)
        await converse(romeo, juliet, "three", "four")

        after = await retrieve(juliet, start=middle)
        before = await retrieve(juliet, end=middle)
        between = await retrieve(
            juliet, start=middle - dt.timedelta(hours=1), end=middle + dt.timedelta(hours=1)
        )
        # a stamp is inclusive: a result's own delay stamp as `start` includes it again
        stamp = after.results[0].stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        from_stamp = await raw_query(
            juliet, f"<query xmlns='{MAM}'>{form(('start', stamp))}</query>"
        )
        nothing = await retrieve(juliet, start=middle + dt.timedelta(days=1))

    assert after.bodies == ["three", "four"]
    assert before.bodies == ["one", "two"]
    assert between.bodies == ["one", "two", "three", "four"]
    assert from_stamp.bodies == ["three", "four"]
    assert nothing.bodies == []
    assert nothing.complete
    assert (nothing.rsm("count"), nothing.rsm("first")) == ("0", None)


async def test_paging_with_rsm(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    bodies = [f"line {n}" for n in range(1, 8)]
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await converse(romeo, juliet, *bodies)

        first = await retrieve(juliet, rsm={"max": 3})
        second = await retrieve(juliet, rsm={"max": 3, "after": first.rsm("last")})
        third = await retrieve(juliet, rsm={"max": 3, "after": second.rsm("last")})
        # COMPAT(slixmpp): retrieve() sends rsm values as str(), so before=True becomes
        # <before>True</before>; an empty <before/> goes raw
        last = await raw_query(
            juliet, f"<query xmlns='{MAM}'><set xmlns='{RSM}'><max>3</max><before/></set></query>"
        )
        before_last = await retrieve(juliet, rsm={"max": 3, "before": last.rsm("first")})
        count_only = await retrieve(juliet, rsm={"max": 0})
        huge = await retrieve(juliet, rsm={"max": 100_000})
        # slixmpp's own iterator pages forward with <after> until the set ends
        iterated = [
            message["mam_result"]["forwarded"]["stanza"]["body"]
            async for message in mam(juliet).iterate(jid=JID(juliet.boundjid.bare), rsm={"max": 2})
        ]

    assert first.bodies == bodies[0:3]
    assert (first.complete, first.rsm("count"), first.first_index) == (False, "7", "0")
    assert second.bodies == bodies[3:6]
    assert (second.complete, second.first_index) == (False, "3")
    assert third.bodies == bodies[6:]
    assert (third.complete, third.first_index) == (True, "6")
    # an empty <before/> is the last page, still oldest first
    assert last.bodies == bodies[4:]
    assert (last.complete, last.first_index) == (False, "4")
    assert before_last.bodies == bodies[1:4]
    assert before_last.first_index == "1"
    assert count_only.bodies == []
    assert (count_only.rsm("count"), count_only.complete) == ("7", False)
    assert huge.bodies == bodies
    assert huge.complete
    assert iterated == bodies


async def test_a_max_above_the_limit_is_capped(xmpp_server: RunningServer) -> None:
    juliet_jid = await xmpp_server.add_user("juliet")
    romeo_jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, juliet_jid) as juliet:
        async with connected(xmpp_server, romeo_jid) as romeo:
            for n in range(MAX_PAGE + 5):
                send(romeo, juliet_jid, f"m{n}")
            for _ in range(MAX_PAGE + 5):
                await juliet.next_message()

        page = await retrieve(juliet, rsm={"max": 10_000})
        rest = await retrieve(juliet, rsm={"max": 10_000, "after": page.rsm("last")})

    assert len(page.results) == MAX_PAGE
    assert not page.complete
    assert page.rsm("count") == str(MAX_PAGE + 5)
    assert rest.bodies == [f"m{n}" for n in range(MAX_PAGE, MAX_PAGE + 5)]
    assert rest.complete


async def test_id_fields_and_flipped_pages(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    bodies = [f"line {n}" for n in range(1, 6)]
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await converse(romeo, juliet, *bodies)
        ids = [result.id for result in (await retrieve(juliet)).results]

        between = await raw_query(
            juliet,
            f"<query xmlns='{MAM}' queryid='q1'>"
            f"{form(('after-id', ids[0]), ('before-id', ids[4]))}</query>",
        )
        picked = await raw_query(
            juliet,
            f"<query xmlns='{MAM}'><x xmlns='jabber:x:data' type='submit'>"
            f"<field var='ids'><value>{ids[3]}</value><value>{ids[1]}</value></field>"
            "</x></query>",
        )
        flipped = await raw_query(
            juliet,
            f"<query xmlns='{MAM}'><set xmlns='{RSM}'><max>2</max><before/></set>"
            "<flip-page/></query>",
        )

    assert between.bodies == bodies[1:4]
    assert between.rsm("count") == "3"
    assert picked.bodies == [bodies[1], bodies[3]]
    # flipping changes the order results are sent in, not the page nor its RSM ids
    assert flipped.bodies == [bodies[4], bodies[3]]
    assert (flipped.rsm("first"), flipped.rsm("last")) == (ids[3], ids[4])


async def test_jmi_propose_to_an_offline_callee_is_in_its_archive(
    xmpp_server: RunningServer,
) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, f"{romeo_jid}/orchard") as romeo:
        # no body and a no-store hint: a call is archived all the same
        send(romeo, juliet_jid, None, propose("call-offline"), NO_STORE, type_="normal")
        mine = await retrieve(romeo)
    async with connected(xmpp_server, f"{juliet_jid}/balcony") as juliet:
        hers = await retrieve(juliet, with_jid=JID(romeo_jid))

    def proposals(page: Page) -> list[Archived]:
        return [
            result
            for result in page.results
            if result.original.find(f"{{{JMI}}}propose[@id='call-offline']") is not None
        ]

    (incoming,) = proposals(hers)
    assert incoming.original.get("from") == f"{romeo_jid}/orchard"
    assert incoming.original.get("to") == juliet_jid
    (outgoing,) = proposals(mine)
    assert outgoing.id != incoming.id


async def test_no_store_is_honoured_for_chat_but_not_for_jmi(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        send(romeo, juliet_jid, "off the record", NO_STORE)
        assert (await juliet.next_message())["body"] == "off the record"
        # slixmpp queues only messages with a body: "goodbye" arriving means the two
        # body-less ones before it were routed (the server keeps a sender's order)
        send(romeo, juliet_jid, None, "<active xmlns='http://jabber.org/protocol/chatstates'/>")
        send(romeo, juliet_jid, None, propose("call-online"), NO_STORE)
        send(romeo, juliet_jid, "goodbye")
        assert (await juliet.next_message())["body"] == "goodbye"

        mine = await retrieve(romeo)
        hers = await retrieve(juliet)

    for page in (mine, hers):
        kept = [
            "propose" if r.original.find(f"{{{JMI}}}propose") is not None else r.body
            for r in page.results
        ]
        assert kept[0] == "propose"
        assert kept[-1] == "goodbye"
        assert "off the record" not in kept
        assert len([k for k in kept if k is None]) == 0  # the chat state is not archived


# -- errors and discovery --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        (f"<query xmlns='{MAM}'>{form(('start', 'yesterday'))}</query>", "bad-request"),
        (f"<query xmlns='{MAM}'>{form(('end', '2025-13-01T00:00:00Z'))}</query>", "bad-request"),
        (f"<query xmlns='{MAM}'>{form(('with', 'a@b@c'))}</query>", "bad-request"),
        (f"<query xmlns='{MAM}'>{form(form_type='urn:xmpp:mam:1')}</query>", "bad-request"),
        (f"<query xmlns='{MAM}'>{form(type_='form')}</query>", "bad-request"),
        (
            f"<query xmlns='{MAM}'>{form(('with', 'a@localhost'), ('with', 'b@localhost'))}"
            "</query>",
            "bad-request",
        ),
        (f"<query xmlns='{MAM}'><set xmlns='{RSM}'><max>-1</max></set></query>", "bad-request"),
        (f"<query xmlns='{MAM}'><set xmlns='{RSM}'><max>ten</max></set></query>", "bad-request"),
        (f"<query xmlns='{MAM}'><set xmlns='{RSM}'><after/></set></query>", "bad-request"),
        (
            f"<query xmlns='{MAM}'>{form(('free-text-search', 'love'))}</query>",
            "feature-not-implemented",
        ),
        (
            f"<query xmlns='{MAM}'><set xmlns='{RSM}'><index>3</index></set></query>",
            "feature-not-implemented",
        ),
        (
            f"<query xmlns='{MAM}'><set xmlns='{RSM}'><after>nope</after></set></query>",
            "item-not-found",
        ),
        (
            f"<query xmlns='{MAM}'><set xmlns='{RSM}'><before>nope</before></set></query>",
            "item-not-found",
        ),
        (f"<query xmlns='{MAM}'>{form(('after-id', 'nope'))}</query>", "item-not-found"),
        (f"<query xmlns='{MAM}'>{form(('ids', 'nope'))}</query>", "item-not-found"),
    ],
    ids=[
        "bad-start",
        "bad-end",
        "bad-with",
        "other-form-type",
        "form-not-submit",
        "two-withs",
        "negative-max",
        "word-max",
        "empty-after",
        "unknown-field",
        "rsm-index",
        "unknown-after",
        "unknown-before",
        "unknown-after-id",
        "unknown-ids",
    ],
)
async def test_bad_queries_get_errors(
    xmpp_server: RunningServer, payload: str, condition: str
) -> None:
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, juliet_jid) as juliet:
        assert await error_condition(juliet, payload) == condition
        # the stream is still fine: a plain query works after the error
        assert (await raw_query(juliet, f"<query xmlns='{MAM}'/>")).complete


async def test_another_users_archive_is_forbidden(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await converse(romeo, juliet, "private")
        condition = await error_condition(romeo, f"<query xmlns='{MAM}'/>", to=juliet_jid)
    assert condition == "forbidden"


async def test_form_metadata_prefs_and_disco(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        fields = await mam(juliet).get_fields(jid=JID(juliet_jid), timeout=TIMEOUT)
        info = await juliet.plugin["xep_0030"].get_info(jid=juliet_jid, timeout=TIMEOUT)
        empty = await mam(juliet).get_archive_metadata(jid=JID(juliet_jid), timeout=TIMEOUT)
        await converse(romeo, juliet, "first", "second")
        ids = [result.id for result in (await retrieve(juliet)).results]
        metadata = await mam(juliet).get_archive_metadata(jid=JID(juliet_jid), timeout=TIMEOUT)

        prefs = juliet.make_iq_get(ito=juliet_jid)
        prefs.xml.append(fromstring(f"<prefs xmlns='{MAM}'/>"))
        got = await prefs.send(timeout=TIMEOUT)
        same = juliet.make_iq_set(ito=juliet_jid)
        same.xml.append(
            fromstring(f"<prefs xmlns='{MAM}' default='always'><always/><never/></prefs>")
        )
        kept = await same.send(timeout=TIMEOUT)
        never = juliet.make_iq_set(ito=juliet_jid)
        never.xml.append(fromstring(f"<prefs xmlns='{MAM}' default='never'/>"))
        with pytest.raises(IqError) as refused:
            await never.send(timeout=TIMEOUT)

    assert {"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"} <= set(
        fields.get_fields()
    )
    assert {MAM, f"{MAM}#extended"} <= set(info["disco_info"]["features"])
    assert empty.xml.find(f"{{{MAM}}}metadata") is not None
    assert empty.xml.find(f"{{{MAM}}}metadata/{{{MAM}}}start") is None
    start = metadata.xml.find(f"{{{MAM}}}metadata/{{{MAM}}}start")
    end = metadata.xml.find(f"{{{MAM}}}metadata/{{{MAM}}}end")
    assert start is not None
    assert end is not None
    assert (start.get("id"), end.get("id")) == (ids[0], ids[-1])
    assert start.get("timestamp")
    assert end.get("timestamp")
    for answer in (got, kept):
        element = answer.xml.find(f"{{{MAM}}}prefs")
        assert element is not None
        assert element.get("default") == "always"
    assert refused.value.iq["error"]["condition"] == "feature-not-implemented"


# -- durability ------------------------------------------------------------------------------


async def test_the_archive_survives_a_restart(server_settings: Settings) -> None:
    async with running_server(server_settings) as first:
        romeo_jid = await first.add_user("romeo")
        juliet_jid = await first.add_user("juliet")
        async with connected(first, romeo_jid) as romeo, connected(first, juliet_jid) as juliet:
            await converse(romeo, juliet, "before the restart")
        # stopping writes whatever the write-behind queue still holds
    async with running_server(server_settings) as second:
        async with connected(second, juliet_jid) as juliet:
            hers = await retrieve(juliet)
            send(juliet, romeo_jid, "after the restart")
            await asyncio.sleep(0)
        async with connected(second, romeo_jid) as romeo:
            mine = await retrieve(romeo)
    assert hers.bodies == ["before the restart"]
    assert mine.bodies == ["before the restart", "after the restart"]


async def test_deleting_an_account_deletes_its_archive(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await converse(romeo, juliet, "soon forgotten")
    assert await mam_module(xmpp_server).flush()
    archive = xmpp_server.server.storage.archive
    assert len((await archive.query(juliet_jid, limit=10)).items) == 1

    await xmpp_server.server.accounts.delete(ServerJID.parse(juliet_jid))

    assert (await archive.query(juliet_jid, limit=10)).items == ()
    assert len((await archive.query(romeo_jid, limit=10)).items) == 1


async def test_delivered_messages_carry_their_archive_id(xmpp_server: RunningServer) -> None:
    """XEP-0313 §3.5 / XEP-0359: the recipient gets <stanza-id by='its bare JID'/> equal to
    the id in its archive; one forged by the sender with that `by` is removed."""
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    sid = "urn:xmpp:sid:0"
    forged = f"<stanza-id xmlns='{sid}' by='{juliet_jid}' id='forged'/>"
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        send(romeo, juliet_jid, "with an id", forged)
        received = await juliet.next_message()
        ids = [(el.get("by"), el.get("id")) for el in received.xml.findall(f"{{{sid}}}stanza-id")]
        assert len(ids) == 1
        by, stanza_id = ids[0]
        assert by == juliet_jid
        assert stanza_id != "forged"
        hers = await retrieve(juliet)
    assert [r.id for r in hers.results] == [stanza_id]


async def test_with_archive_off_nothing_is_archived_and_mam_is_not_offered(
    server_settings: Settings,
) -> None:
    """ARCHIVE=false: messages are still delivered, without a stanza-id; MAM queries get
    service-unavailable and disco does not list MAM; turning it back on finds nothing stored."""
    sid = "urn:xmpp:sid:0"
    async with running_server(dataclasses.replace(server_settings, archive=False)) as server:
        romeo_jid = await server.add_user("romeo")
        juliet_jid = await server.add_user("juliet")
        async with connected(server, romeo_jid) as romeo, connected(server, juliet_jid) as juliet:
            send(romeo, juliet_jid, "not kept")
            received = await juliet.next_message()
            info = await juliet.plugin["xep_0030"].get_info(jid=juliet_jid, timeout=TIMEOUT)
            condition = await error_condition(juliet, f"<query xmlns='{MAM}'/>", to=juliet_jid)
    assert received["body"] == "not kept"
    assert received.xml.find(f"{{{sid}}}stanza-id") is None
    assert MAM not in info["disco_info"]["features"]
    assert condition == "service-unavailable"
    async with running_server(server_settings) as server, connected(server, juliet_jid) as juliet:
        assert (await retrieve(juliet)).bodies == []
