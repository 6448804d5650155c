"""Roster management and presence subscriptions (RFC 6121 §2, §3).

Subscription states live in the roster table; a contact who asked to subscribe but is not in the
roster is kept as an unlisted row (`listed=False`) so that the request survives until answered and
is re-delivered at each login (§3.1.3). Every change is pushed to the owner's interested
resources.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.events import InitialPresence, PresenceFromClient, PresenceToAccount
from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import iq, presence
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.storage.repositories import RosterItem, Subscription

log = logging.getLogger(__name__)

QUERY = f"{{{ns.ROSTER}}}query"
ITEM = f"{{{ns.ROSTER}}}item"
GROUP = f"{{{ns.ROSTER}}}group"

S = Subscription
# (state, has "to" after the change) helpers for the four transitions of RFC 6121 §3
_ADD_TO = {S.NONE: S.TO, S.FROM: S.BOTH, S.TO: S.TO, S.BOTH: S.BOTH}
_ADD_FROM = {S.NONE: S.FROM, S.TO: S.BOTH, S.FROM: S.FROM, S.BOTH: S.BOTH}
_DROP_TO = {S.TO: S.NONE, S.BOTH: S.FROM, S.NONE: S.NONE, S.FROM: S.FROM}
_DROP_FROM = {S.FROM: S.NONE, S.BOTH: S.TO, S.NONE: S.NONE, S.TO: S.TO}


def item_element(item: RosterItem, *, remove: bool = False) -> Element:
    el = Element(
        ITEM, {"jid": item.contact, "subscription": "remove" if remove else str(item.subscription)}
    )
    if remove:
        return el
    if item.name:
        el.set("name", item.name)
    if item.ask_out:
        el.set("ask", "subscribe")
    for group in item.groups:
        SubElement(el, GROUP).text = group
    return el


def has_from(item: RosterItem | None) -> bool:
    return item is not None and item.subscription in (S.FROM, S.BOTH)


def has_to(item: RosterItem | None) -> bool:
    return item is not None and item.subscription in (S.TO, S.BOTH)


class RosterModule:
    name = "roster"

    def setup(self, server: Server) -> None:
        self.server = server
        self.roster = server.storage.roster
        # told of every saved item with the one it replaced (None: new): modules that follow
        # subscriptions (PEP sends its last items to a contact granted a `from` subscription)
        self.listeners: list[Callable[[RosterItem | None, RosterItem], Awaitable[None]]] = []
        server.iq.register("get", QUERY, self.get, targets=(IqTarget.ACCOUNT,))
        server.iq.register("set", QUERY, self.set, targets=(IqTarget.ACCOUNT,))
        server.hooks.on(PresenceFromClient, self.outbound)
        server.hooks.on(PresenceToAccount, self.inbound)
        server.hooks.on(InitialPresence, self.redeliver_requests)

    def stop(self) -> None:
        return None

    # -- roster IQs ----------------------------------------------------------------------

    async def get(self, request: IqRequest) -> Element:
        if not request.from_self:
            raise StanzaError(StanzaErrorCondition.FORBIDDEN)
        if request.origin is not None:
            request.origin.interested = True
        query = Element(QUERY)
        if request.origin is not None:
            items = list((await self.roster_of(request.origin)).values())
        else:
            items = await self.roster.get_roster(str(request.to))
        for item in sorted(items, key=lambda i: i.contact):
            if item.listed:
                query.append(item_element(item))
        return query

    async def set(self, request: IqRequest) -> None:
        if not request.from_self:
            raise StanzaError(StanzaErrorCondition.FORBIDDEN)
        owner = str(request.to)
        items = request.payload.findall(ITEM)
        if len(items) != 1 or len(request.payload) != 1:
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "exactly one item")
        el = items[0]
        try:
            contact = JID.parse(el.get("jid", ""))
        except InvalidJID:
            raise StanzaError(StanzaErrorCondition.JID_MALFORMED) from None
        if contact.resource is not None:
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "roster items are bare JIDs")
        contact_s = str(contact)
        if contact_s == owner:
            raise StanzaError(StanzaErrorCondition.NOT_ALLOWED, "cannot add yourself")
        current = await self.item(owner, contact_s)
        if el.get("subscription") == "remove":
            await self.remove(owner, contact_s, current)
            return
        groups = [(g.text or "") for g in el.findall(GROUP)]
        if any(not g.strip() for g in groups):
            raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, "empty group name")
        if len(set(groups)) != len(groups):
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "duplicate group")
        if any(len(g) > 1024 for g in groups) or len(el.get("name", "")) > 1024:
            raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, "name too long")
        base = current or RosterItem(owner=owner, contact=contact_s)
        item = dataclasses.replace(
            base, name=el.get("name") or None, groups=tuple(groups), listed=True
        )
        await self.save(item)
        self.push(item)

    async def remove(self, owner: str, contact: str, current: RosterItem | None) -> None:
        if current is None or not current.listed:
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND)
        await self.delete(owner, contact)
        self.push(current, remove=True)
        if has_to(current) or current.ask_out:
            await self.inbound_stanza(presence("unsubscribe", to=contact, from_=owner), contact)
        if has_from(current) or current.pending_in:
            await self.inbound_stanza(presence("unsubscribed", to=contact, from_=owner), contact)

    # -- the roster as sessions see it: one load per session, then kept in memory --------

    async def roster_of(self, session: Session) -> dict[str, RosterItem]:
        """The session's account roster (all rows, listed or not), loaded once."""
        if session.roster is None:
            items = await self.roster.get_roster(session.bare)
            if session.roster is None:
                session.roster = {item.contact: item for item in items}
        return session.roster

    async def item(self, owner: str, contact: str) -> RosterItem | None:
        for session in self.server.registry.resources(owner):
            if session.roster is not None:
                return session.roster.get(contact)
        return await self.roster.get_item(owner, contact)

    async def save(self, item: RosterItem) -> None:
        before = await self.item(item.owner, item.contact) if self.listeners else None
        await self.roster.upsert(item)
        for session in self.server.registry.resources(item.owner):
            if session.roster is not None:
                session.roster[item.contact] = item
        for listener in self.listeners:
            await listener(before, item)

    async def delete(self, owner: str, contact: str) -> None:
        await self.roster.remove(owner, contact)
        for session in self.server.registry.resources(owner):
            if session.roster is not None:
                session.roster.pop(contact, None)

    def push(self, item: RosterItem, *, remove: bool = False) -> None:
        for session in self.server.registry.resources(item.owner):
            if session.interested:
                query = Element(QUERY)
                query.append(item_element(item, remove=remove))
                session.deliver(
                    iq(
                        "set",
                        to=session.full,
                        from_=None,
                        id_="push" + secrets.token_hex(4),
                        payload=query,
                    )
                )

    async def _update(self, item: RosterItem) -> None:
        await self.save(item)
        if item.listed:
            self.push(item)

    # -- subscription stanzas from our users ---------------------------------------------

    async def outbound(self, event: PresenceFromClient) -> None:
        stanza = event.stanza
        type_ = stanza.get("type")
        if type_ not in ("subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe"):
            return
        try:
            contact = JID.parse(stanza.get("to", "")).bare
        except InvalidJID:
            return
        owner, contact_s = event.session.bare, str(contact)
        if contact_s == owner:
            return
        item = await self.item(owner, contact_s)
        out = presence(type_, to=contact_s, from_=owner)
        if type_ == "subscribe":
            out.extend(list(stanza))
            if not has_to(item):
                base = item or RosterItem(owner=owner, contact=contact_s)
                await self._update(dataclasses.replace(base, ask_out=True, listed=True))
        elif type_ == "subscribed":
            if item is not None and item.pending_in:
                # approving puts the contact in the roster (RFC 6121 §3.1.5)
                await self._update(
                    dataclasses.replace(
                        item,
                        subscription=_ADD_FROM[item.subscription],
                        pending_in=False,
                        listed=True,
                    )
                )
            elif not has_from(item):
                base = item or RosterItem(owner=owner, contact=contact_s, listed=False)
                await self.save(dataclasses.replace(base, approved=True))
                return  # pre-approval (RFC 6121 §3.4): nothing is sent
            else:
                return
        elif type_ == "unsubscribe":
            if item is None:
                return
            await self._update(
                dataclasses.replace(item, subscription=_DROP_TO[item.subscription], ask_out=False)
            )
        elif type_ == "unsubscribed":
            if item is None:
                return
            await self._update(
                dataclasses.replace(
                    item,
                    subscription=_DROP_FROM[item.subscription],
                    pending_in=False,
                    approved=False,
                )
            )
        await self.inbound_stanza(out, contact_s)
        if type_ == "subscribed":
            self._send_presence_of(owner, to=contact_s)
        elif type_ == "unsubscribed":
            for session in self.server.registry.resources(owner):
                if session.available:
                    self.server.router.deliver_presence_to_account(
                        presence("unavailable", to=contact_s, from_=session.full), contact_s
                    )

    def _send_presence_of(self, owner: str, *, to: str) -> None:
        """Current presence of every available resource of `owner` to `to`'s resources."""
        for session in self.server.registry.resources(owner):
            if session.presence is not None:
                self.server.router.deliver_presence_to_account(session.presence, to)

    # -- subscription stanzas for our users ----------------------------------------------

    async def inbound(self, event: PresenceToAccount) -> None:
        await self.inbound_stanza(event.stanza, event.to_bare)

    async def inbound_stanza(self, stanza: Element, owner: str) -> None:
        """A subscription stanza or probe arriving for local account `owner`."""
        if not await self.server.accounts.exists(JID.parse(owner).local or ""):
            return
        type_ = stanza.get("type")
        try:
            sender = str(JID.parse(stanza.get("from", "")).bare)
        except InvalidJID:
            return
        item = await self.item(owner, sender)
        router = self.server.router
        if type_ == "probe":
            if has_from(item):
                for session in self.server.registry.resources(owner):
                    if session.presence is not None:
                        router.deliver_to(_addressed(session.presence, stanza.get("from", "")))
            return
        if type_ == "subscribe":
            if has_from(item):
                await self.inbound_stanza(presence("subscribed", to=sender, from_=owner), sender)
                return
            if item is not None and item.approved:
                await self._update(
                    dataclasses.replace(
                        item,
                        subscription=_ADD_FROM[item.subscription],
                        approved=False,
                        pending_in=False,
                    )
                )
                await self.inbound_stanza(presence("subscribed", to=sender, from_=owner), sender)
                self._send_presence_of(owner, to=sender)
                return
            base = item or RosterItem(owner=owner, contact=sender, listed=False)
            await self.save(dataclasses.replace(base, pending_in=True))
            router.deliver_presence_to_account(stanza, owner)
            return
        if item is None:
            return
        if type_ == "subscribed":
            if not item.ask_out:
                return
            await self._update(
                dataclasses.replace(item, subscription=_ADD_TO[item.subscription], ask_out=False)
            )
            router.deliver_presence_to_account(stanza, owner)
            # the contact's current presence follows: sent by `outbound` after `subscribed`
        elif type_ == "unsubscribe":
            if not (has_from(item) or item.pending_in):
                return
            await self._update(
                dataclasses.replace(
                    item, subscription=_DROP_FROM[item.subscription], pending_in=False
                )
            )
            router.deliver_presence_to_account(stanza, owner)
            # the contact no longer sees the owner: it learns so (RFC 6121 §3.3.3)
            for session in self.server.registry.resources(owner):
                if session.available:
                    router.deliver_presence_to_account(
                        presence("unavailable", to=sender, from_=session.full), sender
                    )
        elif type_ == "unsubscribed":
            if not (has_to(item) or item.ask_out):
                return
            await self._update(
                dataclasses.replace(item, subscription=_DROP_TO[item.subscription], ask_out=False)
            )
            router.deliver_presence_to_account(stanza, owner)
            for contact_session in self.server.registry.resources(sender):
                router.deliver_presence_to_account(
                    presence("unavailable", to=owner, from_=contact_session.full), owner
                )

    async def redeliver_requests(self, event: InitialPresence) -> None:
        """Pending subscription requests, again, to a resource that just came online."""
        router = self.server.router
        for item in list((await self.roster_of(event.session)).values()):
            if item.pending_in:
                if router.gates and router.presence_withheld(item.contact, event.session.full):
                    continue  # a request from a JID blocked since (XEP-0191)
                event.session.deliver(
                    presence("subscribe", to=event.session.bare, from_=item.contact)
                )


def _addressed(stanza: Element, to: str) -> Element:
    copy = Element(stanza.tag, dict(stanza.attrib))
    copy.extend(list(stanza))
    copy.set("to", to)
    return copy
