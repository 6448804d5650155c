"""XEP-0357 push notifications: wake a sleeping phone, at once for a call.

A client enables push with ``<iq type='set'><enable xmlns='urn:xmpp:push:0' jid='app server'
node='…'>[publish-options form]</enable></iq>`` to its own account and disables it with
``<disable jid [node]/>`` (answers and errors: `stanzas`). The registration belongs to the
account and names the client (its bound resource) it wakes; it is kept in the database
(``push_registration``, one per account, app server and node) until disabled, disabled by
the server after ``PUSH_MAX_ERRORS`` failed publishes in a row, or the account is deleted. At
most ``PUSH_MAX_REGISTRATIONS`` per account. ``urn:xmpp:push:0`` is an account disco#info
feature (§4.1).

When is a device notified (`wake.classify` says which messages count):

* *hibernating*: its stream dropped with XEP-0198 resumption on, and a message that counts was
  queued for it (`StanzaQueuedWhileHibernating`);
* *offline*: no session has its resource, and a message that counts reached its account's bare
  JID — delivered to other resources, stored offline, or a JMI call signal — (a router
  observer). A message bounced back to its sender notifies nobody.

Each notification is a pubsub publish to the app server (`stanzas.publish_iq`) with the
summary form: ``message-count`` (messages that counted since the device was last connected),
``last-message-sender`` (a bare JID), never a body; ``last-message-priority`` ``high`` for
call signals, ``normal`` for messages; for call signals also ``x-call-action`` (``propose``,
or ``retract``/``reject``/``accept``/``proceed`` meaning "stop ringing") and ``x-call-id``
(the JMI id). So an app server tells a ringing push (action ``propose``) from its cancellation
(any other action, same id) and from a message (no action).

Timing: a JMI ``propose`` is published at once; its end (``retract`` from the caller;
``reject``/``accept``/``proceed`` from the callee's other device, seen as carbons or as the
copy to the own bare JID) is published at once too, once per call, and only for a device that
was woken for that call. Messages are coalesced per device: the first one is published at
once, the ones within ``PUSH_COALESCE_WINDOW`` seconds after a notification go together as one
notification at the end of the window (the count includes them all).

Failures: an app server that answers with an error, or not within ``PUSH_TIMEOUT``, counts one
failure for that registration (a success resets the count); after ``PUSH_MAX_ERRORS`` in a
row the registration is removed and a warning logged; so it is when the app server itself
says it no longer takes them (§8, an affiliation ``none`` for the account on that node).
Publishing never holds up delivery: each publish is its own task (`server.tasks`), at most
``PUSH_MAX_PENDING`` await an answer at once (more are skipped, counted in `stats`; the
message count carries over). See `publisher` for which answers are seen.

The state behind notifications (counts, ringing calls, failures) is in this node's memory;
registrations are read from the database once per account and cached (with several nodes,
another node keeps what it read before: telling it is left to the cluster work). Other modules ask
`has_registrations` (the module is provided as a service: ``server.require(PushModule)``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from xml.etree.ElementTree import Element

from xmpp_video.core.events import (
    AccountDeleted,
    SessionBound,
    SessionResumed,
    StanzaQueuedWhileHibernating,
)
from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.router import Routed
from xmpp_video.core.server import Server
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.modules.push.devices import Device
from xmpp_video.modules.push.publisher import Outcome, Publisher, new_id
from xmpp_video.modules.push.stanzas import (
    DISABLE,
    ENABLE,
    PUSH,
    Summary,
    affiliation_removed,
    parse_disable,
    parse_enable,
    publish_iq,
)
from xmpp_video.modules.push.wake import Wake, WakeKind, classify
from xmpp_video.stanza.builders import MESSAGE
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.storage.push import PushRegistration

log = logging.getLogger(__name__)

__all__ = ["PushModule"]


def _bare(jid: str) -> str:
    try:
        return str(JID.parse(jid).bare)
    except InvalidJID:
        return ""


class PushModule:
    name = "push"

    def __init__(self) -> None:
        self._devices: dict[str, list[Device]] = {}  # by owner, once read from the database
        self._owners: set[str] = set()  # accounts with registrations (valid once loaded)
        self._locals: set[str] = set()  # their local parts: the observer's first test
        self._loaded = False
        self.stats: Counter[str] = Counter()  # publishes by Outcome, "disabled"

    def setup(self, server: Server) -> None:
        self.server = server
        self.domain = server.domain
        self.repo = server.storage.push
        settings = server.settings
        self.max_errors = settings.push_max_errors
        self.window = settings.push_coalesce_window
        self.max_registrations = settings.push_max_registrations
        self.publisher = Publisher(server.router, settings.push_timeout, settings.push_max_pending)
        account = (IqTarget.ACCOUNT,)
        server.iq.register("set", ENABLE, self.enable, targets=account)
        server.iq.register("set", DISABLE, self.disable, targets=account)
        server.disco.account_features.add(PUSH)
        server.router.gates.append(self.publisher)
        server.router.observers.append(self.observe)
        server.hooks.on(StanzaQueuedWhileHibernating, self.queued)
        server.hooks.on(SessionBound, self.connected)
        server.hooks.on(SessionResumed, self.connected)
        server.hooks.on(AccountDeleted, self.deleted)
        server.tasks.spawn(self._load_owners(), name="push-owners")
        server.provide(PushModule, self)
        server.device_waker = self  # the calls module keeps ringing for push devices

    def has_registrations(self, bare: str) -> bool | None:
        """Whether the account `bare` has push-enabled devices, which a notification can wake
        although none of its resources is online (the call process may keep ringing for them);
        None while this node does not know yet (at start-up)."""
        if not self._loaded:
            return None
        return bare in self._owners

    def stop(self) -> None:
        for devices in self._devices.values():
            for device in devices:
                device.cancel_timer()

    async def _load_owners(self) -> None:
        owners = await self.repo.owners()
        self._owners.update(owners)
        self._locals.update(owner.partition("@")[0] for owner in owners)
        self._loaded = True

    def _may_have(self, local: str, bare: str) -> bool:
        """Whether `bare` may have registrations (always, until the owners are loaded)."""
        return not self._loaded or (local in self._locals and bare in self._owners)

    async def _devices_of(self, owner: str) -> list[Device]:
        devices = self._devices.get(owner)
        if devices is None:
            loaded = [Device(registration) for registration in await self.repo.list(owner)]
            devices = self._devices.setdefault(owner, loaded)  # a concurrent load won
        return devices

    # -- enable / disable (§5, §6) ---------------------------------------------------------

    def _client(self, request: IqRequest) -> tuple[str, str]:
        if not request.from_self:
            raise StanzaError(StanzaErrorCondition.FORBIDDEN, "only for one's own account")
        resource = request.sender.resource
        if resource is None:
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "from a bound client only")
        return str(request.to.bare), resource

    async def enable(self, request: IqRequest) -> Element | None:
        owner, resource = self._client(request)
        parsed = parse_enable(request.payload)
        devices = await self._devices_of(owner)
        key = (parsed.service, parsed.node)
        existing = next((d for d in devices if d.key == key), None)
        if existing is None and len(devices) >= self.max_registrations:
            raise StanzaError(
                StanzaErrorCondition.RESOURCE_CONSTRAINT,
                f"at most {self.max_registrations} push registrations per account",
            )
        registration = PushRegistration(
            owner, resource, parsed.service, parsed.node, parsed.options
        )
        await self.repo.save(registration)
        if existing is not None:
            existing.registration = registration
            existing.errors = 0
        elif not any(d.key == key for d in devices):  # (not added meanwhile)
            devices.append(Device(registration))
        self._owners.add(owner)
        self._locals.add(owner.partition("@")[0])
        log.info("push: %s/%s enabled notifications to %s", owner, resource, parsed.service)
        return None

    async def disable(self, request: IqRequest) -> Element | None:
        owner, resource = self._client(request)
        parsed = parse_disable(request.payload)
        removed = await self.repo.remove(owner, parsed.service, parsed.node)
        for device in list(await self._devices_of(owner)):
            service, node = device.key
            if service == parsed.service and parsed.node in (None, node):
                self._forget(device)
        log.info(
            "push: %s/%s disabled %d registration(s) of %s",
            owner,
            resource,
            removed,
            parsed.service,
        )
        return None

    def _forget(self, device: Device) -> None:
        device.removed = True
        device.cancel_timer()
        owner = device.registration.owner
        devices = self._devices.get(owner)
        if devices is not None and device in devices:
            devices.remove(device)
        if not devices:
            self._owners.discard(owner)  # the local part may stay in _locals: harmless

    # -- when to notify ------------------------------------------------------------------

    def observe(self, routed: Routed) -> None:
        """Router observer: messages for accounts with offline push-enabled devices."""
        stanza = routed.stanza
        if stanza.tag != MESSAGE:
            return
        to = routed.to
        local = to.local
        if local is None or to.resource is not None or to.domain != self.domain:
            return
        if self._loaded and local not in self._locals:
            return  # the common case: a set lookup, no string built
        owner = str(to)
        if not self._may_have(local, owner):
            return
        wake = classify(stanza)
        if wake is None:
            node = affiliation_removed(stanza, owner)
            if node is not None:
                sender = str(routed.sender)
                self.server.tasks.spawn(self._remote_disable(owner, sender, node), name="push-off")
            return
        if not routed.recipients and not routed.stored and str(routed.sender.bare) != owner:
            return  # bounced (the sender was told), e.g. an account that is gone
        self.server.tasks.spawn(self._wake_offline(owner, wake), name=f"push-{owner}")

    async def _wake_offline(self, owner: str, wake: Wake) -> None:
        registry = self.server.registry
        for device in list(await self._devices_of(owner)):
            if registry.get(device.registration.device) is None:
                self._wake(device, wake)

    async def _remote_disable(self, owner: str, sender: str, node: str) -> None:
        """The app server `sender` no longer takes `owner`'s notifications on `node` (§8)."""
        for device in list(await self._devices_of(owner)):
            service, device_node = device.key
            if device_node == node and service in (sender, _bare(sender)):
                self._forget(device)
                await self.repo.remove(owner, service, node)
                log.info("push: %s disabled notifications of %s", service, owner)

    async def queued(self, event: StanzaQueuedWhileHibernating) -> None:
        session = event.session
        jid = session.jid
        if jid is None or jid.local is None or not self._may_have(jid.local, session.bare):
            return
        wake = classify(event.stanza)
        if wake is None:
            return
        for device in list(await self._devices_of(session.bare)):
            if device.registration.resource == jid.resource:
                self._wake(device, wake)

    def connected(self, event: SessionBound | SessionResumed) -> None:
        session = event.session
        for device in self._devices.get(session.bare, ()):
            if device.registration.device == session.full:
                device.connected()

    def deleted(self, event: AccountDeleted) -> None:
        for device in self._devices.pop(event.bare, ()):
            device.removed = True
            device.cancel_timer()
        self._owners.discard(event.bare)

    # -- notifying -------------------------------------------------------------------------

    def _wake(self, device: Device, wake: Wake) -> None:
        sender = _bare(wake.sender)
        if wake.kind is WakeKind.CALL:
            device.message(sender)
            device.ring(wake.call_id)
            self._publish(device, Summary(device.count, sender, True, wake.action, wake.call_id))
        elif wake.kind is WakeKind.CALL_ENDED:
            if device.stop_ringing(wake.call_id):
                summary = Summary(device.count, sender, True, wake.action, wake.call_id)
                self._publish(device, summary)
        else:
            device.message(sender)
            if device.timer is not None:
                return  # a coalesced notification is on its way and will carry this one
            loop = asyncio.get_running_loop()
            wait = device.last_notified + self.window - loop.time()
            if wait > 0:
                device.timer = loop.call_later(wait, self._flush, device)
            else:
                self._notify_messages(device)

    def _flush(self, device: Device) -> None:
        device.timer = None
        if not device.removed:
            self._notify_messages(device)

    def _notify_messages(self, device: Device) -> None:
        device.last_notified = asyncio.get_running_loop().time()
        self._publish(device, Summary(device.count, device.last_sender, False))

    def _publish(self, device: Device, summary: Summary) -> None:
        registration = device.registration
        stanza = publish_iq(
            owner=registration.owner,
            service=registration.service,
            node=registration.node,
            options=registration.options,
            summary=summary,
            id_=new_id(),
        )
        self.server.tasks.spawn(self._send(device, stanza), name=f"push-to-{registration.service}")

    async def _send(self, device: Device, stanza: Element) -> None:
        outcome = await self.publisher.publish(stanza)
        self.stats[outcome] += 1
        registration = device.registration
        if outcome is Outcome.DELIVERED:
            device.errors = 0
            return
        if outcome is Outcome.SKIPPED:
            log.warning(
                "push: too many publishes pending; one to %s for %s skipped",
                registration.service,
                registration.device,
            )
            return
        device.errors += 1
        log.info(
            "push: publish to %s for %s %s (%d in a row)",
            registration.service,
            registration.device,
            outcome,
            device.errors,
        )
        if device.errors >= self.max_errors and not device.removed:
            self._forget(device)
            self.stats["disabled"] += 1
            log.warning(
                "push: notifications of %s to %s disabled after %d failed publishes",
                registration.device,
                registration.service,
                device.errors,
            )
            await self.repo.remove(registration.owner, registration.service, registration.node)
