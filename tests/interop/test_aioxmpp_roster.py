"""aioxmpp users keep a roster and subscribe to each other's presence (RFC 6121 §2, §3, §4).

Romeo and Juliet over real sockets and TLS, on SQLite and PostgreSQL. What is checked is what an
aioxmpp user sees: its RosterClient's items and signals (fed by roster pushes), and the presence
stanzas the stream delivers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import aioxmpp
import aioxmpp.roster
import pytest

from tests.interop.aiox import Session, connected
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio

AVAILABLE = aioxmpp.PresenceType.AVAILABLE
UNAVAILABLE = aioxmpp.PresenceType.UNAVAILABLE


def _subscription(state: str) -> Callable[[Any], bool]:
    return lambda item: item.subscription == state


async def test_roster_item_added_pushed_fetched_and_removed(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    juliet = aioxmpp.JID.fromstr(juliet_jid)
    async with (
        connected(xmpp_server, romeo_jid, resource="phone") as phone,
        connected(xmpp_server, romeo_jid, resource="laptop") as laptop,
    ):
        assert not phone.roster.items
        await phone.roster.set_entry(juliet, name="Juliet", add_to_groups={"Capulets", "Verona"})

        for resource in (phone, laptop):  # the roster push reaches every resource
            item = await resource.next_roster_event("added", juliet_jid)
            assert item.name == "Juliet"
            assert item.groups == {"Capulets", "Verona"}
            assert item.subscription == "none"
            assert item.ask is None

        # a roster get (what a client does at login) returns it
        result = await laptop.send(
            aioxmpp.IQ(type_=aioxmpp.IQType.GET, payload=aioxmpp.roster.xso.Query())
        )
        (fetched,) = result.items
        assert fetched.jid == juliet
        assert fetched.name == "Juliet"
        assert {group.name for group in fetched.groups} == {"Capulets", "Verona"}

        # renaming and regrouping is pushed too
        await phone.roster.set_entry(juliet, name="Juliet Capulet", remove_from_groups={"Verona"})
        item = await laptop.next_roster_event("name", juliet_jid)
        assert item.name == "Juliet Capulet"
        assert item.groups == {"Capulets"}

        await laptop.roster.remove_entry(juliet)
        for resource in (phone, laptop):
            item = await resource.next_roster_event("removed", juliet_jid)
            assert item.jid == juliet
            assert juliet not in resource.roster.items

    # stored: a new login gets the roster as last left (empty)
    async with connected(xmpp_server, romeo_jid, presence=False) as later:
        assert juliet not in later.roster.items


async def test_roster_survives_a_new_login(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    juliet = aioxmpp.JID.fromstr(juliet_jid)
    async with connected(xmpp_server, romeo_jid, presence=False) as romeo:
        await romeo.roster.set_entry(juliet, name="Juliet", add_to_groups={"Capulets"})
        await romeo.next_roster_event("added", juliet_jid)
    async with connected(xmpp_server, romeo_jid, presence=False) as romeo:
        item = romeo.roster.items[juliet]  # aioxmpp fetched the roster before "established"
        assert item.name == "Juliet"
        assert item.groups == {"Capulets"}


async def _subscribe(user: Session, contact: Session) -> None:
    """``user`` asks for ``contact``'s presence and ``contact`` approves (RFC 6121 §3.1)."""
    contact_bare = contact.jid.bare()
    user_bare = user.jid.bare()
    user.roster.subscribe(contact_bare)
    # the user's roster shows the pending request (§3.1.2) ...
    await user.wait_roster(str(contact_bare), lambda item: item.ask == "subscribe")
    # ... the contact gets it from the user's bare JID (§3.1.3)
    request = await contact.next_presence(type_=aioxmpp.PresenceType.SUBSCRIBE, from_=user_bare)
    assert request.from_ == user_bare

    contact.roster.approve(user_bare)
    approval = await user.next_presence(type_=aioxmpp.PresenceType.SUBSCRIBED, from_=contact_bare)
    assert approval.from_ == contact_bare
    # the user now sees each available resource of the contact (§3.1.6)
    available = await user.next_presence(type_=AVAILABLE, from_=contact.jid)
    assert available.from_ == contact.jid


async def test_approved_subscription_is_pushed_to_both_rosters(
    xmpp_server: RunningServer,
) -> None:
    """One way: Romeo's item becomes "to", and Juliet, who approved, gets a "from" item."""
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await _subscribe(romeo, juliet)
        item = await romeo.wait_roster(juliet_jid, _subscription("to"))
        assert item.ask is None
        assert romeo.presence.get_most_available_stanza(juliet.jid.bare()) is not None
        # RFC 6121 §3.1.5: the contact's server pushes the item with subscription "from" (adding
        # it to the roster when the contact had none)
        item = await juliet.wait_roster(romeo_jid, _subscription("from"))
        assert item.ask is None


async def _befriend(romeo: Session, juliet: Session) -> None:
    """Mutual subscription; ends with "both" on both rosters."""
    await _subscribe(romeo, juliet)
    await _subscribe(juliet, romeo)
    await romeo.wait_roster(str(juliet.jid.bare()), _subscription("both"))
    await juliet.wait_roster(str(romeo.jid.bare()), _subscription("both"))


async def test_mutual_subscription_ends_in_both(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await _befriend(romeo, juliet)
        # aioxmpp's PresenceClient tracks each other's resource as available
        assert romeo.presence.get_most_available_stanza(juliet.jid.bare()).from_ == juliet.jid
        assert juliet.presence.get_most_available_stanza(romeo.jid.bare()).from_ == romeo.jid
        # a roster get agrees with the pushes
        result = await juliet.send(
            aioxmpp.IQ(type_=aioxmpp.IQType.GET, payload=aioxmpp.roster.xso.Query())
        )
        assert [(str(item.jid), item.subscription) for item in result.items] == [
            (romeo_jid, "both")
        ]


async def test_unsubscribe(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await _befriend(romeo, juliet)
        # Romeo stops following Juliet's presence (RFC 6121 §3.3)
        romeo.roster.unsubscribe(juliet.jid.bare())
        request = await juliet.next_presence(
            type_=aioxmpp.PresenceType.UNSUBSCRIBE, from_=romeo.jid.bare()
        )
        assert request.from_ == romeo.jid.bare()
        await romeo.wait_roster(juliet_jid, _subscription("from"))
        await juliet.wait_roster(romeo_jid, _subscription("to"))
        # Romeo is told that Juliet is no longer available to him (§3.3.3)
        gone = await romeo.next_presence(type_=UNAVAILABLE, from_=juliet.jid)
        assert gone.from_ == juliet.jid
        assert romeo.presence.get_most_available_stanza(juliet.jid.bare()) is None
        # Juliet still sees Romeo
        assert juliet.presence.get_most_available_stanza(romeo.jid.bare()) is not None


async def test_subscription_state_is_stored(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await _befriend(romeo, juliet)
    async with connected(xmpp_server, juliet_jid) as juliet:
        item = juliet.roster.items[aioxmpp.JID.fromstr(romeo_jid)]
        assert item.subscription == "both"
        # Romeo logs in afterwards: Juliet gets his presence, he gets hers (initial presence)
        async with connected(xmpp_server, romeo_jid) as romeo:
            await juliet.next_presence(type_=AVAILABLE, from_=romeo.jid)
            await romeo.next_presence(type_=AVAILABLE, from_=juliet.jid)


@pytest.mark.parametrize("how", ["stream closed", "connection dropped"])
async def test_contact_goes_unavailable_when_client_disconnects(
    xmpp_server: RunningServer, how: str
) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    if how == "connection dropped":
        # aioxmpp enables stream management with resumption (XEP-0198): a dropped connection
        # leaves the session hibernating, still available, until SM_RESUMPTION_TIMEOUT is up
        server = xmpp_server.server
        server.settings = dataclasses.replace(server.settings, sm_resumption_timeout=0.5)
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await _befriend(romeo, juliet)
        juliet_full = juliet.jid
        if how == "stream closed":
            # aioxmpp closes the stream without sending unavailable presence itself
            await juliet.stop()
        else:
            juliet.client.backoff_start = juliet.client.backoff_start * 60  # no reconnect
            juliet.abort_connection()
        gone = await romeo.next_presence(type_=UNAVAILABLE, from_=juliet_full)
        assert gone.from_ == juliet_full
        assert romeo.presence.get_most_available_stanza(juliet_full.bare()) is None
