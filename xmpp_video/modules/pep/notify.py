"""Event notifications (XEP-0163 §4.3, XEP-0060 §7.1.2.1) filtered by ``+notify`` (§4.2).

Which nodes each available session wants to hear about comes from its entity capabilities
(XEP-0115): the ``<c/>`` of its available presence names a verification string; a known one
is looked up in the cache, an unknown one is asked of the client (disco#info at
``node#ver``, an iq from the server, in a task of its own since the answer arrives on the very
stream whose presence is being handled), checked, then cached. A session without caps gets no
notifications.

* On publish (retract with ``notify``, delete, purge), a ``headline`` message from the owner's
  bare JID carries ``<event/>`` to every available resource, of the owner and of each contact
  with a ``from``/``both`` subscription in the owner's roster (none for a ``whitelist`` node),
  whose caps want the node and whom no gate (XEP-0191 blocking) keeps from the owner.
* When a session's caps start wanting a node (its first available presence with caps, or new
  caps), it gets the last item of that node — of its own account and of every local contact
  it is subscribed to and may read — stamped with XEP-0203 ``<delay/>`` (its publication
  time). Unavailable presence forgets the session's wishes, so the next available presence
  brings the last items again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from xml.etree.ElementTree import Element, ParseError, SubElement, fromstring

from xmpp_video.core.events import PresenceFromClient, SessionClosed
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.modules.pep.access import Access
from xmpp_video.modules.pep.caps import (
    HASHES,
    Caps,
    CapsCache,
    InvalidDiscoInfo,
    notify_nodes,
    parse_caps,
    verification_string,
)
from xmpp_video.modules.pep.model import AccessModel, NodeConfig, SendLast
from xmpp_video.modules.pep.names import EVENT, EVENT_TAG
from xmpp_video.modules.pep.nodes import Nodes
from xmpp_video.modules.pep.requests import RequestFailed, ServerRequests
from xmpp_video.modules.roster import RosterModule, has_from, has_to
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import MESSAGE
from xmpp_video.storage.pep import PepItem
from xmpp_video.storage.repositories import RosterItem

log = logging.getLogger(__name__)

DISCO_INFO = f"{{{ns.DISCO_INFO}}}query"
ITEMS = f"{{{EVENT}}}items"
ITEM = f"{{{EVENT}}}item"
NOTHING: frozenset[str] = frozenset()


def event_message(owner: str, to: str, event: Element) -> Element:
    message = Element(MESSAGE, {"from": owner, "to": to, "type": "headline"})
    message.set("id", secrets.token_hex(8))
    message.append(event)
    return message


def items_event(node: str, item_id: str, payload: Element | None) -> Element:
    event = Element(EVENT_TAG)
    item = SubElement(SubElement(event, ITEMS, {"node": node}), ITEM, {"id": item_id})
    if payload is not None:
        item.append(payload)
    return event


def retract_event(node: str, item_id: str) -> Element:
    event = Element(EVENT_TAG)
    SubElement(SubElement(event, ITEMS, {"node": node}), f"{{{EVENT}}}retract", {"id": item_id})
    return event


def node_event(kind: str, node: str) -> Element:
    """``<delete node/>`` or ``<purge node/>``."""
    event = Element(EVENT_TAG)
    SubElement(event, f"{{{EVENT}}}{kind}", {"node": node})
    return event


def parse_payload(xml: str) -> Element | None:
    try:
        return fromstring(xml)  # noqa: S314 - our own serialized element, from our database
    except ParseError:
        log.error("unreadable stored PEP payload")
        return None


class Notifier:
    def __init__(
        self,
        server: Server,
        roster: RosterModule,
        access: Access,
        nodes: Nodes,
        requests: ServerRequests,
    ) -> None:
        self.server = server
        self.roster = roster
        self.access = access
        self.nodes = nodes
        self.requests = requests
        settings = server.settings
        self.cache = CapsCache(settings.pep_caps_cache_size)
        self.caps_timeout = settings.pep_caps_timeout
        self._wants: dict[Session, frozenset[str]] = {}  # available sessions: +notify nodes
        self._ver: dict[Session, str] = {}  # the caps ver each session announced last
        self._asking: dict[str, asyncio.Future[frozenset[str] | None]] = {}  # ver → in flight

    def wants(self, session: Session, node: str) -> bool:
        return node in self._wants.get(session, NOTHING)

    # -- caps: what each session wants -----------------------------------------------------

    async def presence(self, event: PresenceFromClient) -> None:
        stanza, session = event.stanza, event.session
        if stanza.get("to") not in (None, session.bare):
            return
        type_ = stanza.get("type")
        if type_ == "unavailable":
            self.forget(session)
            return
        if type_ is not None or session.closed:
            return
        caps = parse_caps(stanza)
        if caps is None:
            self._ver.pop(session, None)
            await self._set(session, NOTHING)
            return
        if self._ver.get(session) == caps.ver and session in self._wants:
            return  # unchanged
        self._ver[session] = caps.ver
        known = self.cache.get(caps.ver) if caps.hash in HASHES else None
        if known is not None:
            await self._set(session, known)
            return
        self.server.tasks.spawn(self._resolve(session, caps), name=f"pep-caps-{session.full}")

    def forget(self, session: Session) -> None:
        self._wants.pop(session, None)
        self._ver.pop(session, None)

    def closed(self, event: SessionClosed) -> None:
        self.forget(event.session)

    async def _resolve(self, session: Session, caps: Caps) -> None:
        nodes: frozenset[str] | None = None
        verifiable = caps.hash in HASHES
        asking = self._asking.get(caps.ver) if verifiable else None
        if asking is not None:
            nodes = await asyncio.shield(asking)
        if nodes is None:
            future: asyncio.Future[frozenset[str] | None] | None = None
            if verifiable and caps.ver not in self._asking:
                future = asyncio.get_running_loop().create_future()
                self._asking[caps.ver] = future
            try:
                nodes = await self._ask(session, caps)
            finally:
                if future is not None:
                    del self._asking[caps.ver]
                    future.set_result(self.cache.get(caps.ver))
        if nodes is None or self._ver.get(session) != caps.ver or not session.available:
            return  # no answer, newer caps since, or gone
        await self._set(session, nodes)

    async def _ask(self, session: Session, caps: Caps) -> frozenset[str] | None:
        query = Element(DISCO_INFO, {"node": f"{caps.node}#{caps.ver}"})
        try:
            answer = await self.requests.request(session, query, self.caps_timeout)
        except RequestFailed as exc:
            log.info("caps of %s unknown: %s", session.full, exc)
            return None
        if answer.tag != DISCO_INFO:
            return None
        nodes = notify_nodes(answer)
        if caps.hash in HASHES:
            try:
                verified = verification_string(answer, caps.hash) == caps.ver
            except InvalidDiscoInfo:
                verified = False
            if verified:
                self.cache.put(caps.ver, nodes)
            else:  # XEP-0115 §5.4: used for this session, never cached
                log.info("caps of %s do not match their ver %s", session.full, caps.ver)
        return nodes

    async def _set(self, session: Session, nodes: frozenset[str]) -> None:
        before = self._wants.get(session)
        self._wants[session] = nodes
        new = nodes if before is None else nodes - before
        if new:
            await self.send_last_items(session, new)

    # -- the last items, to a session that starts wanting nodes ----------------------------

    async def send_last_items(self, session: Session, wanted: frozenset[str]) -> None:
        for owner in [session.bare, *self._publishers_of(await self.roster.roster_of(session))]:
            await self._send_last_items_of(owner, session, wanted)

    async def _send_last_items_of(
        self, owner: str, session: Session, wanted: frozenset[str]
    ) -> None:
        nodes = await self.nodes.of(owner)
        for node in sorted(wanted.intersection(nodes)):
            config = nodes[node]
            if config.send_last is SendLast.NEVER or not config.deliver_notifications:
                continue
            if owner != session.bare and (
                self.server.router.presence_withheld(owner, session.full)
                or not await self.access.allowed(owner, session.bare, config)
            ):
                continue
            last = await self.nodes.repo.items(owner, node, last=1)
            if last and not session.closed:
                session.deliver(self.last_item_message(owner, session.full, node, last[0], config))

    async def subscription_saved(self, before: RosterItem | None, after: RosterItem) -> None:
        """The owner granted a contact a ``from`` subscription: like a new subscriber, the
        contact's available sessions get the last items of the nodes they want."""
        if not has_from(after) or (before is not None and has_from(before)):
            return
        for session in self.server.registry.resources(after.contact):
            wanted = self._wants.get(session, NOTHING)
            if wanted and session.available:
                await self._send_last_items_of(after.owner, session, wanted)

    def _publishers_of(self, roster: dict[str, RosterItem]) -> Iterable[str]:
        """Local contacts whose presence the roster's owner receives."""
        domain = self.server.domain
        for item in list(roster.values()):
            if has_to(item) and item.contact.partition("@")[2] == domain:
                yield item.contact

    def last_item_message(
        self, owner: str, to: str, node: str, item: PepItem, config: NodeConfig
    ) -> Element:
        payload = parse_payload(item.payload) if config.deliver_payloads else None
        message = event_message(owner, to, items_event(node, item.item_id, payload))
        stamp = item.published_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        SubElement(message, f"{{{ns.DELAY}}}delay", {"from": owner, "stamp": stamp})
        return message

    # -- notifications -------------------------------------------------------------------

    async def recipients(self, owner: str, node: str, config: NodeConfig) -> list[Session]:
        """The available sessions that get events of `owner`'s `node`."""
        registry = self.server.registry
        targets = [s for s in registry.resources(owner) if s.available and self.wants(s, node)]
        if config.access_model is AccessModel.WHITELIST or not self._wants:
            return targets
        withheld = self.server.router.presence_withheld
        for item in await self._roster(owner):
            if not has_from(item):
                continue
            for session in registry.resources(item.contact):
                if (
                    session.available
                    and self.wants(session, node)
                    and not withheld(owner, session.full)
                ):
                    targets.append(session)
        return targets

    async def _roster(self, owner: str) -> list[RosterItem]:
        for session in self.server.registry.resources(owner):
            return list((await self.roster.roster_of(session)).values())
        return await self.server.storage.roster.get_roster(owner)

    async def notify(self, owner: str, node: str, config: NodeConfig, event: Element) -> int:
        """Send `event` to whoever gets `owner`'s `node`'s events; how many sessions."""
        if not config.deliver_notifications:
            return 0
        targets = await self.recipients(owner, node, config)
        for session in targets:
            session.deliver(event_message(owner, session.full, event))
        return len(targets)
