"""XEP-0191 Blocking Command (``urn:xmpp:blocking``): a user's blocklist, kept across sessions.

**Commands** (§3.2-§3.5), iqs without ``to`` (or to the own bare JID; from anyone else:
``forbidden``):

* ``<blocklist/>`` get: every blocked JID, sorted. The requesting resource now gets pushes.
* ``<block>`` set with one or more ``<item jid/>`` (none: ``bad-request``; a malformed JID:
  ``jid-malformed``; the own account or more than `BLOCKLIST_LIMIT` JIDs in all:
  ``not-acceptable``). Blocking a JID already blocked is a no-op.
* ``<unblock>`` set with items (those not blocked are ignored), or empty: unblock all.

After a block or unblock the command's items (none for unblock-all) are pushed in an iq set to
each resource of the user that asked for the blocklist, the requesting one included.

**Matching** (§4, as XEP-0016): an item ``user@domain/resource`` matches that resource only,
``user@domain`` any of its resources, ``domain/resource`` that resource of the domain,
``domain`` the domain, everything at it and its subdomains.

**What a block does** (§3.3), through a router gate (`core.router.Gate`), for stanzas between
the user and a JID that an item matches:

* from the blocked JID to the user (inbound): presence of every kind (notifications,
  subscriptions, probes) is dropped without an answer; a message of type ``chat`` or ``normal``
  and an iq ``get``/``set`` get ``<service-unavailable/>`` (the user looks offline, as for an
  unknown account); ``headline``, ``groupchat``, errors and iq results are dropped.
* from the user to the blocked JID (outbound): not routed; a message, an iq get/set or a
  presence the user's client sent gets ``<not-acceptable/>`` (type ``cancel``) with
  ``<blocked xmlns='urn:xmpp:blocking:errors'/>``; errors and iq results are dropped, and so is
  anything the server sends on the user's behalf (the unavailable presence of a session's end).
  Stanzas to the own account and to the server itself always pass, so that the user can still
  unblock.
* presence the server delivers itself (broadcasts, probe answers, pending subscription requests
  at login) is withheld both ways, resource by resource.

**Presence, both ways.** Blocking sends each newly blocked contact resource that could see the
user (subscription ``from``/``both``, or a directed presence) an unavailable presence from each
available resource of the user, and the user's available resources an unavailable presence from
each newly blocked contact resource they could see (``to``/``both``): each side now sees the
other offline. Unblocking sends the user's current presence to the freed contacts that may see
it and theirs to the user's resources, as the answer to a probe would (§3.4). Blocking is
"polite" (§5): subscriptions are kept.

**State.** The set of users with a non-empty blocklist is loaded at start; the whole list of
such a user is kept in memory while the user has a session on this node (loaded when a session
binds), so that the gate answers at once. A stanza for a blocking user with no session here
waits for one indexed read (it was going to offline storage or a roster update anyway). A
cluster (SPEC §8) will need to tell the other nodes about a changed blocklist: not done yet.
Not filtered: offline messages stored before the block, and the message archive (history).
Disco: ``urn:xmpp:blocking`` on the server (§3.1).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Awaitable, Iterator
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.events import AccountDeleted, SessionBound, SessionClosed
from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.modules.roster import RosterModule, has_from, has_to
from xmpp_video.stanza.builders import IQ, PRESENCE, iq, presence
from xmpp_video.stanza.conditions import StanzaErrorCondition, StanzaErrorType
from xmpp_video.stanza.errors import StanzaError, error_reply
from xmpp_video.storage.repositories import RosterItem

log = logging.getLogger(__name__)

NS: Final = "urn:xmpp:blocking"
ERRORS_NS: Final = "urn:xmpp:blocking:errors"
BLOCKLIST: Final = f"{{{NS}}}blocklist"
BLOCK: Final = f"{{{NS}}}block"
UNBLOCK: Final = f"{{{NS}}}unblock"
ITEM: Final = f"{{{NS}}}item"
BLOCKED: Final = f"{{{ERRORS_NS}}}blocked"
ERROR: Final = "{jabber:client}error"


def match_keys(jid: JID) -> Iterator[str]:
    """The blocklist items that match ``jid`` (§4): the JID itself (``user@domain/resource`` or
    ``domain/resource``), its bare JID, its domain and every domain above it."""
    if jid.resource is not None:
        yield str(jid)
    if jid.local is not None:
        yield f"{jid.local}@{jid.domain}"
    domain = jid.domain
    while True:
        yield domain
        _, dot, domain = domain.partition(".")
        if not dot or not domain:
            return


@lru_cache(maxsize=16384)
def _keys(jid: JID) -> tuple[str, ...]:
    return tuple(match_keys(jid))


def blocks(items: AbstractSet[str], jid: JID) -> bool:
    """Whether a blocklist with ``items`` blocks ``jid``."""
    return not items.isdisjoint(_keys(jid))


def _addressed(stanza: Element, to: str) -> Element:
    copy = Element(stanza.tag, dict(stanza.attrib))
    copy.extend(list(stanza))
    copy.set("to", to)
    return copy


class BlockingModule:
    name = "blocking"

    def __init__(self, roster: RosterModule) -> None:
        self.roster = roster
        self._blockers: set[str] = set()  # users whose blocklist is not empty
        self._blocking_locals: set[str] = set()  # their local parts: the gate's first test
        self._lists: dict[str, frozenset[str]] = {}  # blockers with a session on this node
        self._interested: set[Session] = set()  # asked for the blocklist: get pushes
        # one lock per user while in use: commands and loads of one blocklist never interleave
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def setup(self, server: Server) -> None:
        self.server = server
        self.repo = server.storage.blocklist
        self.domain = server.domain
        self.limit = server.settings.blocklist_limit
        account = (IqTarget.ACCOUNT,)
        server.iq.register("get", BLOCKLIST, self.get, targets=account)
        server.iq.register("set", BLOCK, self.block, targets=account)
        server.iq.register("set", UNBLOCK, self.unblock, targets=account)
        server.disco.server_features.add(NS)
        server.hooks.on(SessionBound, self.bound)
        server.hooks.on(SessionClosed, self.closed)
        server.hooks.on(AccountDeleted, self.deleted)
        server.router.gates.append(self)

    async def start(self) -> None:
        """Load who blocks anyone at all (before the listeners open)."""
        self._blockers = set(await self.repo.owners())
        self._blocking_locals = {owner.partition("@")[0] for owner in self._blockers}

    def stop(self) -> None:
        return None

    # -- the gate (core.router.Gate) -----------------------------------------------------

    def check(
        self, stanza: Element, sender: JID, to: JID, origin: Session | None
    ) -> bool | Awaitable[bool]:
        blocking = self._blocking_locals  # the hot path: set lookups, no string built
        if not blocking:
            return False
        domain = self.domain
        out_owner = in_owner = None
        if (
            sender.local in blocking
            and sender.domain == domain
            and (to.local is not None or to.domain != domain)  # to the server: always passes
        ):
            out_owner = f"{sender.local}@{domain}"
        if to.local in blocking and to.domain == domain:
            in_owner = f"{to.local}@{domain}"
        if out_owner == in_owner:
            return False  # neither blocks anyone, or to oneself (the own account, a resource)
        if out_owner is not None and out_owner not in self._blockers:
            out_owner = None
        if in_owner is not None and in_owner not in self._blockers:
            in_owner = None
        if out_owner is None and in_owner is None:
            return False
        out_items = None if out_owner is None else self._lists.get(out_owner)
        in_items = None if in_owner is None else self._lists.get(in_owner)
        if (out_owner is not None and out_items is None) or (
            in_owner is not None and in_items is None
        ):
            return self._check_loaded(stanza, sender, to, origin, out_owner, in_owner)
        return self._decide(stanza, sender, to, origin, out_items, in_items)

    async def _check_loaded(
        self,
        stanza: Element,
        sender: JID,
        to: JID,
        origin: Session | None,
        out_owner: str | None,
        in_owner: str | None,
    ) -> bool:
        """`check` for a blocking user without a session here: read the blocklist first."""
        try:
            out_items = None if out_owner is None else await self._current(out_owner)
            in_items = None if in_owner is None else await self._current(in_owner)
        except Exception:
            log.exception("cannot read a blocklist; refusing the stanza")
            self._bounce(stanza, origin, StanzaErrorCondition.INTERNAL_SERVER_ERROR)
            return True
        return self._decide(stanza, sender, to, origin, out_items, in_items)

    def _decide(
        self,
        stanza: Element,
        sender: JID,
        to: JID,
        origin: Session | None,
        out_items: frozenset[str] | None,
        in_items: frozenset[str] | None,
    ) -> bool:
        if out_items and blocks(out_items, to):
            if origin is not None:  # what the server sends on the user's behalf just stops
                self._refuse_outbound(stanza, origin)
            return True
        if in_items and blocks(in_items, sender):
            if stanza.tag != PRESENCE:  # presence: no answer at all
                self._bounce(stanza, origin, StanzaErrorCondition.SERVICE_UNAVAILABLE)
            return True
        return False

    def _refuse_outbound(self, stanza: Element, origin: Session) -> None:
        type_ = stanza.get("type")
        if type_ == "error" or (stanza.tag == IQ and type_ == "result"):
            return
        error = StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, type_=StanzaErrorType.CANCEL)
        reply = error_reply(stanza, error)
        condition = reply.find(ERROR)
        if condition is not None:
            SubElement(condition, BLOCKED)
        self.server.router.deliver_to(reply, origin)

    def _bounce(
        self, stanza: Element, origin: Session | None, condition: StanzaErrorCondition
    ) -> None:
        """An error for a message of type chat/normal or an iq get/set; the rest is dropped."""
        type_ = stanza.get("type")
        if stanza.tag == IQ:
            answered = type_ in ("get", "set")
        elif stanza.tag == PRESENCE:
            answered = False
        else:
            answered = type_ in (None, "chat", "normal")
        if answered:
            self.server.router.deliver_to(error_reply(stanza, StanzaError(condition)), origin)

    def withholds(self, from_: str, to_full: str) -> bool:
        blockers = self._blockers
        if not blockers or not from_:
            return False
        from_bare = from_.partition("/")[0]
        to_bare = to_full.partition("/")[0]
        if from_bare == to_bare or (from_bare not in blockers and to_bare not in blockers):
            return False
        try:
            mine = self._lists.get(from_bare)
            if mine and blocks(mine, JID.parse(to_full)):
                return True
            theirs = self._lists.get(to_bare)
            return theirs is not None and blocks(theirs, JID.parse(from_))
        except InvalidJID:
            return False

    # -- the blocklists ------------------------------------------------------------------

    def _lock(self, owner: str) -> asyncio.Lock:
        lock = self._locks.get(owner)
        if lock is None:
            lock = self._locks[owner] = asyncio.Lock()
        return lock

    async def _current(self, owner: str) -> frozenset[str]:
        cached = self._lists.get(owner)
        if cached is not None:
            return cached
        if owner not in self._blockers:
            return frozenset()
        return frozenset(await self.repo.get(owner))

    def _keep(self, owner: str, items: frozenset[str]) -> None:
        """Record ``owner``'s blocklist as it now is in the database."""
        local = owner.partition("@")[0]  # owners are accounts of this one domain
        if items:
            self._blockers.add(owner)
            self._blocking_locals.add(local)
        else:
            self._blockers.discard(owner)
            self._blocking_locals.discard(local)
        if items and self.server.registry.resources(owner):
            self._lists[owner] = items
        else:
            self._lists.pop(owner, None)

    async def bound(self, event: SessionBound) -> None:
        owner = event.session.bare
        if owner not in self._blockers or owner in self._lists:
            return
        async with self._lock(owner):
            if owner in self._blockers and owner not in self._lists:
                self._keep(owner, frozenset(await self.repo.get(owner)))

    def closed(self, event: SessionClosed) -> None:
        self._interested.discard(event.session)
        if not self.server.registry.resources(event.session.bare):
            self._lists.pop(event.session.bare, None)

    def deleted(self, event: AccountDeleted) -> None:
        self._blockers.discard(event.bare)
        self._blocking_locals.discard(event.bare.partition("@")[0])
        self._lists.pop(event.bare, None)

    # -- commands (§3.2-§3.5) ------------------------------------------------------------

    def _owner(self, request: IqRequest) -> str:
        if not request.from_self:
            raise StanzaError(StanzaErrorCondition.FORBIDDEN)
        return str(request.to)

    def _requested(self, payload: Element, owner: str, *, block: bool) -> list[str]:
        jids: list[str] = []
        for child in payload:
            if child.tag != ITEM or not child.get("jid"):
                raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "expected <item jid='…'/>")
            try:
                jid = JID.parse(child.get("jid", ""))
            except InvalidJID:
                raise StanzaError(StanzaErrorCondition.JID_MALFORMED) from None
            if block and jid.local is not None and f"{jid.local}@{jid.domain}" == owner:
                raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, "cannot block yourself")
            jids.append(str(jid))
        return list(dict.fromkeys(jids))

    async def get(self, request: IqRequest) -> Element:
        owner = self._owner(request)
        if request.origin is not None:
            self._interested.add(request.origin)
        result = Element(BLOCKLIST)
        for jid in sorted(await self._current(owner)):
            SubElement(result, ITEM, {"jid": jid})
        return result

    async def block(self, request: IqRequest) -> None:
        owner = self._owner(request)
        jids = self._requested(request.payload, owner, block=True)
        if not jids:
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "nothing to block")
        async with self._lock(owner):
            before = await self._current(owner)
            after = before.union(jids)
            if len(after) > self.limit:
                # COMPAT(slixmpp): its stanza errors refuse RFC 6120's policy-violation (not
                # in RFC 3920), so a local limit is answered with not-acceptable
                raise StanzaError(
                    StanzaErrorCondition.NOT_ACCEPTABLE,
                    f"a blocklist holds at most {self.limit} JIDs",
                )
            await self.repo.add(owner, [jid for jid in jids if jid not in before])
            self._keep(owner, after)
        self._push(owner, BLOCK, jids)
        await self._presence_on_change(owner, before, after, request.origin)

    async def unblock(self, request: IqRequest) -> None:
        owner = self._owner(request)
        jids = self._requested(request.payload, owner, block=False)
        async with self._lock(owner):
            before = await self._current(owner)
            after = before.difference(jids) if jids else frozenset[str]()
            if after != before:
                await self.repo.remove(owner, jids or None)
            self._keep(owner, after)
        self._push(owner, UNBLOCK, jids)
        await self._presence_on_change(owner, before, after, request.origin)

    def _push(self, owner: str, tag: str, jids: list[str]) -> None:
        for session in self.server.registry.resources(owner):
            if session in self._interested:
                payload = Element(tag)
                for jid in jids:
                    SubElement(payload, ITEM, {"jid": jid})
                push_id = "push" + secrets.token_hex(4)
                session.deliver(
                    iq("set", to=session.full, from_=None, id_=push_id, payload=payload)
                )

    # -- presence both ways (§3.3, §3.4) -------------------------------------------------

    async def _roster(self, owner: str, origin: Session | None) -> list[RosterItem]:
        if origin is not None and origin.bare == owner:
            return list((await self.roster.roster_of(origin)).values())
        return await self.server.storage.roster.get_roster(owner)

    async def _presence_on_change(
        self, owner: str, before: frozenset[str], after: frozenset[str], origin: Session | None
    ) -> None:
        own = [s for s in self.server.registry.resources(owner) if s.available]
        if not own or before == after:
            return
        registry = self.server.registry

        def newly_blocked(jid: JID) -> bool:
            return blocks(after, jid) and not blocks(before, jid)

        def freed(jid: JID) -> bool:
            return blocks(before, jid) and not blocks(after, jid)

        sent: set[tuple[str, str]] = set()

        def send(to: Session, stanza: Element) -> None:
            key = (stanza.get("from", ""), to.full)
            if key not in sent:
                sent.add(key)
                to.deliver(_addressed(stanza, to.full))

        for item in await self._roster(owner, origin):
            for contact in registry.resources(item.contact):
                if not contact.available or contact.jid is None:
                    continue
                if newly_blocked(contact.jid):
                    for mine in own:
                        if has_from(item):
                            send(contact, presence("unavailable", from_=mine.full))
                        if has_to(item):
                            send(mine, presence("unavailable", from_=contact.full))
                elif freed(contact.jid):
                    for mine in own:
                        if has_from(item) and mine.presence is not None:
                            send(contact, mine.presence)
                        if has_to(item) and contact.presence is not None:
                            send(mine, contact.presence)
        for mine in own:  # directed presence the user's resources sent (RFC 6121 §4.6)
            for target in mine.directed_to:
                for contact in self._sessions_of(target):
                    if contact.jid is not None and newly_blocked(contact.jid):
                        send(contact, presence("unavailable", from_=mine.full))

    def _sessions_of(self, jid_text: str) -> list[Session]:
        registry = self.server.registry
        if "/" in jid_text:
            session = registry.get(jid_text)
            return [session] if session is not None and session.available else []
        return [s for s in registry.resources(jid_text) if s.available]
