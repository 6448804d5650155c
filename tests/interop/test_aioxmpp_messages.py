"""aioxmpp users send messages through the server: Romeo writes, Juliet reads.

Real sockets and TLS, on SQLite and PostgreSQL. Absence ("only the higher-priority resource got
it") is shown without sleeping: a later marker message to the same recipient from the same sender
must arrive first, since the server delivers one sender's stanzas in order (RFC 6120 §10.1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aioxmpp
import pytest

from tests.interop.aiox import Session, connected
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio


async def _bodies_before_marker(session: Session, sender: aioxmpp.JID, marker: str) -> list[str]:
    """Bodies ``session`` received from ``sender`` up to (without) the ``marker`` message."""
    bodies: list[str] = []
    while True:
        message = await session.next_message(from_=sender)
        body = message.body.any()
        if body == marker:
            return bodies
        bodies.append(body)


async def test_message_to_full_jid(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        romeo.send_message(juliet.jid, "to your resource")
        message = await juliet.next_message(from_=romeo_jid)
        assert message.body.any() == "to your resource"
        assert message.from_ == romeo.jid  # the sender's full JID, stamped by the server
        assert message.to == juliet.jid
        assert message.type_ == aioxmpp.MessageType.CHAT
        assert message.id_ is not None


async def test_message_to_bare_jid(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        romeo.send_message(juliet_jid, "to you")
        message = await juliet.next_message(from_=romeo_jid)
        assert message.body.any() == "to you"
        assert message.from_ == romeo.jid
        assert message.type_ == aioxmpp.MessageType.CHAT


async def test_offline_message_delivered_with_delay_at_next_login(
    xmpp_server: RunningServer,
) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    before = datetime.now(UTC) - timedelta(seconds=2)  # stamps have second precision
    async with connected(xmpp_server, romeo_jid) as romeo:
        romeo.send_message(juliet_jid, "while you were away")
        sent_from = romeo.jid
        # a round trip after the message: the server has handled it when the ping returns
        await romeo.send(_ping(xmpp_server))
    async with connected(xmpp_server, juliet_jid) as juliet:
        message = await juliet.next_message(from_=romeo_jid)
        assert message.body.any() == "while you were away"
        assert message.from_ == sent_from
        (delay,) = message.xep0203_delay  # XEP-0203 <delay xmlns='urn:xmpp:delay'/>
        assert delay.stamp.tzinfo is not None
        assert before <= delay.stamp <= datetime.now(UTC)
        assert delay.from_ in (None, aioxmpp.JID.fromstr(xmpp_server.domain))


async def test_offline_message_delivered_only_once(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, romeo_jid) as romeo:
        romeo.send_message(juliet_jid, "stored")
        await romeo.send(_ping(xmpp_server))
    async with connected(xmpp_server, juliet_jid) as juliet:
        assert (await juliet.next_message(from_=romeo_jid)).body.any() == "stored"
    async with (
        connected(xmpp_server, juliet_jid) as juliet,
        connected(xmpp_server, romeo_jid) as romeo,
    ):
        romeo.send_message(juliet.jid, "marker")
        assert await _bodies_before_marker(juliet, romeo.jid, "marker") == []


async def test_message_to_nonexistent_user_is_service_unavailable(
    xmpp_server: RunningServer,
) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    nobody = aioxmpp.JID.fromstr(f"nobody@{xmpp_server.domain}")
    async with connected(xmpp_server, romeo_jid) as romeo:
        sent = romeo.send_message(nobody, "anyone there?")
        error = await romeo.next_message(from_=nobody)
        assert error.type_ == aioxmpp.MessageType.ERROR
        assert error.id_ == sent.id_
        assert error.to in (romeo.jid, None)
        assert error.error.condition == aioxmpp.ErrorCondition.SERVICE_UNAVAILABLE
        assert error.error.type_ == aioxmpp.ErrorType.CANCEL


async def test_bare_jid_message_reaches_both_resources_of_equal_priority(
    xmpp_server: RunningServer,
) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, juliet_jid, resource="balcony", priority=1) as balcony,
        connected(xmpp_server, juliet_jid, resource="chamber", priority=1) as chamber,
        connected(xmpp_server, romeo_jid) as romeo,
    ):
        romeo.send_message(juliet_jid, "to both of you")
        for juliet in (balcony, chamber):
            message = await juliet.next_message(from_=romeo_jid)
            assert message.body.any() == "to both of you"
            assert message.from_ == romeo.jid


async def test_bare_jid_message_reaches_only_highest_priority_resource(
    xmpp_server: RunningServer,
) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, juliet_jid, resource="balcony", priority=5) as balcony,
        connected(xmpp_server, juliet_jid, resource="chamber", priority=1) as chamber,
        connected(xmpp_server, romeo_jid) as romeo,
    ):
        romeo.send_message(juliet_jid, "to the most available")
        message = await balcony.next_message(from_=romeo_jid)
        assert message.body.any() == "to the most available"
        romeo.send_message(chamber.jid, "marker")
        assert await _bodies_before_marker(chamber, romeo.jid, "marker") == []


async def test_priority_change_moves_bare_jid_delivery(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, juliet_jid, resource="balcony", priority=5) as balcony,
        connected(xmpp_server, juliet_jid, resource="chamber", priority=1) as chamber,
        connected(xmpp_server, romeo_jid) as romeo,
    ):
        await chamber.go_available(priority=10)
        romeo.send_message(juliet_jid, "now to the chamber")
        message = await chamber.next_message(from_=romeo_jid)
        assert message.body.any() == "now to the chamber"
        romeo.send_message(balcony.jid, "marker")
        assert await _bodies_before_marker(balcony, romeo.jid, "marker") == []


def _ping(server: RunningServer) -> aioxmpp.IQ:
    return aioxmpp.IQ(
        type_=aioxmpp.IQType.GET,
        to=aioxmpp.JID.fromstr(server.domain),
        payload=aioxmpp.ping.Ping(),
    )
