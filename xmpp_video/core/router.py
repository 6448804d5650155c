"""The router: delivers stanzas between sessions, the server and accounts.

It reads only the envelope (tag, to, from, type) and passes payloads through untouched. The rules
are those of RFC 6120 §10 and RFC 6121 §8.5, row by row:

| to                       | message chat/normal         | presence         | iq get/set          |
|--------------------------|-----------------------------|------------------|---------------------|
| none / own bare JID      | as bare JID below           | presence module  | account handlers    |
| our domain               | dropped                     | dropped          | server handlers     |
| other domain             | remote-server-not-found     | dropped          | remote-server-n-f   |
| domain with a route      | its route (XEP-0114)        | its route        | its route           |
| bare JID, available res. | highest priority >= 0       | presence module  | account handlers    |
| bare JID, none available | offline store               | presence module  | account handlers    |
| full JID online          | that resource               | that resource    | that resource       |
| full JID offline         | as bare JID (headline drop) | subscr. → bare   | service-unavailable |
| unknown account          | service-unavailable         | dropped          | service-unavailable |

A message carrying Jingle Message Initiation (XEP-0353, SPEC §10) to a bare JID goes to *every*
available resource whatever its priority, the sending session excepted (``accept``/``reject``
sent to one's own bare JID tell the other devices to stop ringing).

An error or result is never answered with an error; `groupchat` to an account gets
service-unavailable. The caller (the session) has already stamped `from`.

Observers (`observers`) see every message and every iq to a full JID after the router has
handled it, with the sessions it reached: carbons, the archive and the call processes follow
traffic that way without the router knowing them. Stampers (`stampers`) run before a message for
a local account is delivered, and may add to it (the archive's ``<stanza-id/>``).

Domain routes (`domain_routes`, see `DomainRoute`) serve other domains than ours, as external
components (XEP-0114) do: a stanza to such a domain, and a reply `deliver_to` cannot give to a
session, goes to the route of its domain. Only stanzas to other domains pay for the lookup.

Gates (`gates`, see `Gate`) decide whether anything may pass between two JIDs at all (XEP-0191
blocking): `route` asks them first, once ``to`` is parsed, and stops when one has dealt with the
stanza; presence the server delivers itself (`deliver_presence_to_account`, and the presence
module's probe answers through `presence_withheld`) is checked per receiving resource.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol
from xml.etree.ElementTree import Element

from xmpp_video.core.events import PresenceFromClient, PresenceToAccount
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher, IqRequest, IqTarget, iq_payload
from xmpp_video.core.registry import SessionRegistry
from xmpp_video.core.session import Session
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.stanza.builders import IQ, MESSAGE, PRESENCE
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply

log = logging.getLogger(__name__)

JMI_PREFIX = "{urn:xmpp:jingle-message:0}"
UserExists = Callable[[str], Awaitable[bool]]
OfflineStore = Callable[[Element, str], Awaitable[bool]]
# Takes a stanza for a JID of its domain (`to`, prepared): delivers it, or answers it as the
# router would (an error reply through `deliver_to(reply, origin)`, never to an error).
DomainRoute = Callable[[Element, JID, Session | None], None]
SUBSCRIPTION_TYPES = frozenset(("subscribe", "subscribed", "unsubscribe", "unsubscribed"))


async def _no_offline(stanza: Element, to_bare: str) -> bool:
    return False


class Routed:
    """A message (any type) or an iq to a full JID that the router has just handled.

    ``to``: as addressed; ``recipients``: the sessions it was delivered to (empty when it went
    to offline storage, was bounced or dropped); ``stored``: it went to offline storage.
    Observers must not modify ``stanza`` (it may be queued for delivery): copy it first.
    """

    __slots__ = ("origin", "recipients", "sender", "stanza", "stored", "to")

    def __init__(
        self,
        stanza: Element,
        sender: JID,
        to: JID,
        origin: Session | None,
        recipients: list[Session],
        stored: bool = False,
    ) -> None:
        self.stanza = stanza
        self.sender = sender
        self.to = to
        self.origin = origin
        self.recipients = recipients
        self.stored = stored


Observer = Callable[[Routed], None]
# May add to a message for a local account before it is delivered (e.g. the archive's
# <stanza-id/>); the only code allowed to change a routed stanza.
Stamper = Callable[[Element, JID, JID], None]


class Gate(Protocol):
    """Whether stanzas may pass between two JIDs at all (XEP-0191 blocking)."""

    def check(
        self, stanza: Element, sender: JID, to: JID, origin: Session | None
    ) -> bool | Awaitable[bool]:
        """Before routing: True when the gate dealt with the stanza (dropped it or answered
        it; routing stops), False to route it, or an awaitable of that answer when the gate
        must load something first."""
        ...

    def withholds(self, from_: str, to_full: str) -> bool:
        """Presence the server delivers itself (broadcasts, probe answers, subscription
        stanzas) from ``from_`` to the resource ``to_full``: True = do not deliver. Answers at
        once (the parties of such presence are online, their state in memory)."""
        ...


def is_jmi(stanza: Element) -> bool:
    """Whether a message carries a Jingle Message Initiation element."""
    return any(child.tag.startswith(JMI_PREFIX) for child in stanza)


class Router:
    def __init__(
        self,
        domain: str,
        registry: SessionRegistry,
        iq: IqDispatcher,
        hooks: Hooks,
        user_exists: UserExists,
    ) -> None:
        self.domain = domain
        self.registry = registry
        self.iq = iq
        self.hooks = hooks
        self.user_exists = user_exists
        self.offline_store: OfflineStore = _no_offline
        self.observers: list[Observer] = []
        self.stampers: list[Stamper] = []
        self.gates: list[Gate] = []
        self.domain_routes: dict[str, DomainRoute] = {}  # other domains served here, by domain
        self.routed = 0

    # -- entry points --------------------------------------------------------------------

    def route(self, stanza: Element, sender: JID, origin: Session | None) -> Awaitable[None] | None:
        """Route a stanza whose `from` is `sender`. Returns an awaitable when routing must wait
        (database, hooks); the caller keeps that sender's stanzas in order until it is done."""
        self.routed += 1
        to_attr = stanza.get("to")
        if to_attr is None:
            to = sender.bare
        else:
            try:
                to = JID.parse(to_attr)
            except InvalidJID:
                self._reply_error(stanza, StanzaErrorCondition.JID_MALFORMED, origin)
                return None
        if self.gates:
            return self._gated(stanza, sender, to, to_attr is None, origin)
        return self._route_to(stanza, sender, to, to_attr is None, origin)

    def _route_to(
        self, stanza: Element, sender: JID, to: JID, broadcast: bool, origin: Session | None
    ) -> Awaitable[None] | None:
        tag = stanza.tag
        if to.domain != self.domain:
            route = self.domain_routes.get(to.domain)
            if route is not None:
                route(stanza, to, origin)
                return None
            if tag == PRESENCE:
                return None
            self._reply_error(stanza, StanzaErrorCondition.REMOTE_SERVER_NOT_FOUND, origin)
            return None
        if tag == PRESENCE:
            return self._route_presence(stanza, sender, to, broadcast, origin)
        if to.local is None:
            if tag == IQ:
                return self._dispatch_iq(stanza, sender, to, IqTarget.SERVER, origin)
            return None
        if tag == MESSAGE and self.stampers:
            for stamp in self.stampers:
                stamp(stanza, sender, to)
        if to.resource is not None:
            target = self.registry.get(str(to))
            if target is not None:
                target.deliver(stanza)
                if self.observers:
                    self._observe(Routed(stanza, sender, to, origin, [target]))
                return None
            if tag == IQ:
                self._reply_error(stanza, StanzaErrorCondition.SERVICE_UNAVAILABLE, origin)
                return None
            if stanza.get("type") in ("headline", "error"):
                return None
            to = to.bare
        if tag == MESSAGE:
            return self._message_to_bare(stanza, sender, to, origin)
        if tag == IQ:
            return self._dispatch_iq(stanza, sender, to.bare, IqTarget.ACCOUNT, origin)
        return None

    def _gated(
        self, stanza: Element, sender: JID, to: JID, broadcast: bool, origin: Session | None
    ) -> Awaitable[None] | None:
        for index, gate in enumerate(self.gates):
            verdict = gate.check(stanza, sender, to, origin)
            if verdict is True:
                return None
            if verdict is not False:
                return self._gated_later(verdict, index, stanza, sender, to, broadcast, origin)
        return self._route_to(stanza, sender, to, broadcast, origin)

    async def _gated_later(
        self,
        verdict: Awaitable[bool],
        index: int,
        stanza: Element,
        sender: JID,
        to: JID,
        broadcast: bool,
        origin: Session | None,
    ) -> None:
        if await verdict:
            return
        for gate in self.gates[index + 1 :]:
            later = gate.check(stanza, sender, to, origin)
            if later is True or (later is not False and await later):
                return
        pending = self._route_to(stanza, sender, to, broadcast, origin)
        if pending is not None:
            await pending

    def presence_withheld(self, from_: str, to_full: str) -> bool:
        """Whether a gate withholds presence from ``from_`` to the resource ``to_full``."""
        return any(gate.withholds(from_, to_full) for gate in self.gates)

    def _observe(self, routed: Routed) -> None:
        for observer in self.observers:
            try:
                observer(routed)
            except Exception:
                log.exception("stanza observer %r failed", observer)

    def deliver_to(self, stanza: Element, origin: Session | None = None) -> None:
        """Deliver a stanza the server wrote (replies, pushes) to its `to` full JID or session."""
        if origin is not None and not origin.closed:
            origin.deliver(stanza)
            return
        to = stanza.get("to")
        if to is not None:
            target = self.registry.get(to)
            if target is not None:
                target.deliver(stanza)
            elif self.domain_routes:
                self._deliver_to_domain(stanza, to)

    def _deliver_to_domain(self, stanza: Element, to: str) -> None:
        try:
            jid = JID.parse(to)
        except InvalidJID:
            return
        route = self.domain_routes.get(jid.domain)
        if route is not None:
            route(stanza, jid, None)

    # -- messages ------------------------------------------------------------------------

    def _message_to_bare(
        self, stanza: Element, sender: JID, to: JID, origin: Session | None
    ) -> Awaitable[None] | None:
        type_ = stanza.get("type", "normal")
        bare = str(to.bare)
        if type_ == "groupchat":
            self._reply_error(stanza, StanzaErrorCondition.SERVICE_UNAVAILABLE, origin)
            return None
        if is_jmi(stanza):
            targets = [s for s in self.registry.resources(bare) if s.available and s is not origin]
        else:
            targets = self.best_resources(bare)
            if targets and type_ == "headline":
                targets = [
                    s for s in self.registry.resources(bare) if s.available and s.priority >= 0
                ]
        if targets:
            for target in targets:
                target.deliver(stanza)
            if self.observers:
                self._observe(Routed(stanza, sender, to, origin, targets))
            return None
        if to.bare == sender.bare and is_jmi(stanza):
            # a copy for one's other devices, and there are none online: nothing to store
            if self.observers:
                self._observe(Routed(stanza, sender, to, origin, []))
            return None
        return self._message_offline(stanza, sender, to, type_, origin)

    def best_resources(self, bare: str) -> list[Session]:
        """Available resources with the highest non-negative priority (RFC 6121 §8.5.2.1.1)."""
        best: list[Session] = []
        top = -1
        for session in self.registry.resources(bare):
            if session.presence is None or session.priority < 0:
                continue
            if session.priority > top:
                best, top = [session], session.priority
            elif session.priority == top:
                best.append(session)
        return best

    async def _message_offline(
        self, stanza: Element, sender: JID, to: JID, type_: str, origin: Session | None
    ) -> None:
        bare = str(to.bare)
        if not self.registry.resources(bare) and not await self.user_exists(bare):
            if type_ != "error":
                self._reply_error(stanza, StanzaErrorCondition.SERVICE_UNAVAILABLE, origin)
            return
        stored = False
        if type_ not in ("headline", "error"):
            try:
                stored = await self.offline_store(stanza, bare)
            except Exception:
                # never lost silently: the sender learns it did not get through and may retry
                log.exception("offline storage failed for %s", bare)
                self._reply_error(stanza, StanzaErrorCondition.RESOURCE_CONSTRAINT, origin)
                return
            if not stored:
                self._reply_error(stanza, StanzaErrorCondition.SERVICE_UNAVAILABLE, origin)
        if self.observers:
            self._observe(Routed(stanza, sender, to, origin, [], stored))

    # -- presence ------------------------------------------------------------------------

    def _route_presence(
        self, stanza: Element, sender: JID, to: JID, broadcast: bool, origin: Session | None
    ) -> Awaitable[None] | None:
        type_ = stanza.get("type")
        if origin is not None and (broadcast or (to == sender.bare and type_ is None)):
            return self.hooks.fire(PresenceFromClient(origin, stanza))
        if to.local is None:
            return None
        if type_ in SUBSCRIPTION_TYPES or type_ == "probe":
            if origin is not None:
                return self.hooks.fire(PresenceFromClient(origin, stanza))
            return self.hooks.fire(PresenceToAccount(stanza, str(to.bare)))
        # directed available/unavailable presence (or error)
        if origin is not None and type_ in (None, "unavailable"):
            if type_ is None:
                origin.directed_to.add(str(to))
            else:
                origin.directed_to.discard(str(to))
        if to.resource is not None:
            target = self.registry.get(str(to))
            if target is not None:
                target.deliver(stanza)
            return None
        for target in self.registry.resources(str(to)):
            if target.available:
                target.deliver(stanza)
        return None

    def deliver_presence_to_account(self, stanza: Element, bare: str) -> None:
        """Presence for every available resource of `bare` (broadcasts, subscription stanzas),
        except those a gate withholds it from."""
        gated = bool(self.gates)
        for target in self.registry.resources(bare):
            if target.available:
                if gated and self.presence_withheld(stanza.get("from", ""), target.full):
                    continue
                target.deliver(stanza)

    # -- iq ------------------------------------------------------------------------------

    def _dispatch_iq(
        self, stanza: Element, sender: JID, to: JID, target: IqTarget, origin: Session | None
    ) -> Awaitable[None] | None:
        type_ = stanza.get("type")
        if type_ in ("result", "error"):
            return None
        payload = iq_payload(stanza)
        if type_ not in ("get", "set") or payload is None or stanza.get("id") is None:
            self._reply_error(stanza, StanzaErrorCondition.BAD_REQUEST, origin)
            return None
        request = IqRequest(stanza, payload, sender, to, origin)
        return self.iq.dispatch(request, target, lambda reply: self.deliver_to(reply, origin))

    # -- errors --------------------------------------------------------------------------

    def _reply_error(
        self, stanza: Element, condition: StanzaErrorCondition, origin: Session | None
    ) -> None:
        if stanza.get("type") in ("error", "result"):
            return
        self.deliver_to(error_reply(stanza, StanzaError(condition)), origin)
