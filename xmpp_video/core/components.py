"""External components (XEP-0114): their streams, and the routes of their domains.

`ComponentsModule` owns the domains of COMPONENTS: at setup it gives the router a route for each
(`Router.domain_routes`), whether its component is connected or not. A stanza for such a domain
(``gw.example.com``, ``user@gw.example.com/r``) goes to the connected component; while none is
connected, a message or an iq get/set is answered ``service-unavailable`` and anything else
(presence, errors, results) is dropped. Directed presence from a user to a component JID is
remembered on the session, as for local JIDs, so that the component gets unavailable presence
when the session ends. A connected component is listed in the server's disco#items; its own
disco questions go to it like any other stanza.

`ComponentStream` is one component connection (the protocol: `stream.component`), transport
agnostic like `C2SStream`. It is in `server.connections`, so shutdown gives it
``<system-shutdown/>`` with the client streams. It is a `Session` without a JID (not in the
registry, not a bound resource): the router sees a component as a remote sender, and its
stanzas are routed with no ``origin``, so they follow the rules of any stanza from another
domain (presence to users is delivered, subscription presence goes to the presence module as
from a remote contact), and the answers to them come back through the domain's route.

Rules of the stream, after the handshake:

* ``from`` must be a JID of the component's domain, else ``<invalid-from/>`` and the stream
  closes; a stanza without ``from`` is taken as from the domain itself.
* a message or iq without ``to`` is answered ``bad-request``; presence without ``to`` is dropped.
* one connection per domain: a second one that proves the secret gets ``<conflict/>`` and is
  closed; the first one stays (a component reconnecting after a network failure waits until the
  server notices the old connection is gone: TCP keepalive, `transport.component`, ~90 s).
* the handshake must come within AUTH_TIMEOUT (``<connection-timeout/>``, as for clients); a wrong
  one gets ``<not-authorized/>``; a stream to a domain that is not configured gets
  ``<host-unknown/>``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable
from typing import Final, Protocol
from xml.etree.ElementTree import Element

from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.core.stream_session import StreamSession
from xmpp_video.jid import JID
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import PRESENCE
from xmpp_video.stanza.conditions import StanzaErrorCondition, StreamErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply
from xmpp_video.stream.component import (
    HANDSHAKE,
    HANDSHAKE_OK,
    REFUSAL,
    STANZA_TAGS,
    ComponentState,
    can_move,
    check_header,
    handshake_valid,
    header,
    sender_in_domain,
    to_client_namespace,
)
from xmpp_video.xml import (
    STREAM_CLOSE,
    ElementReceived,
    Event,
    StreamClosed,
    StreamOpened,
    serialize,
    stream_error,
)

log = logging.getLogger(__name__)

# Bytes the server may hold for a component that does not read, before it closes the stream
# with <resource-constraint/>. More than a client's: one component carries many users' traffic.
MAX_WRITE_BUFFER: Final = 16 * 1024 * 1024
DISCO_ITEM: Final = f"{{{ns.DISCO_ITEMS}}}item"


class ComponentChannel(Protocol):
    """What a component stream needs from its transport (`TcpChannel` is one)."""

    peer: str

    def write(self, data: bytes) -> None: ...
    def write_buffer_size(self) -> int: ...
    def close(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class ComponentsModule:
    """The configured components: routes for their domains, the connected streams."""

    name = "components"

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.streams: dict[str, ComponentStream] = {}  # connected (handshake done), by domain
        self._items: dict[str, Element] = {}  # their disco#items entries

    def setup(self, server: Server) -> None:
        self.server = server
        self.secrets = server.settings.component_secrets
        for domain in self.secrets:
            server.router.domain_routes[domain] = self.route
        server.provide(ComponentsModule, self)

    def stop(self) -> None:
        for domain in self.secrets:
            self.server.router.domain_routes.pop(domain, None)

    def route(self, stanza: Element, to: JID, origin: Session | None) -> None:
        """The router's route for every component domain (see the module docstring)."""
        if origin is not None and stanza.tag == PRESENCE:
            # directed presence, as the router tracks it for local JIDs: when the user's
            # session ends, the component gets unavailable presence (a MUC service needs it)
            type_ = stanza.get("type")
            if type_ is None:
                origin.directed_to.add(str(to))
            elif type_ == "unavailable":
                origin.directed_to.discard(str(to))
        stream = self.streams.get(to.domain)
        if stream is not None:
            stream.deliver(stanza)
            return
        if stanza.tag == PRESENCE or stanza.get("type") in ("error", "result"):
            return
        error = StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE)
        self.server.router.deliver_to(error_reply(stanza, error), origin)

    def attach(self, stream: ComponentStream) -> bool:
        """A stream proved its domain's secret: it serves the domain now, unless another one
        does already (False: the new one is refused)."""
        domain = stream.domain
        if domain in self.streams:
            return False
        self.streams[domain] = stream
        item = self._items[domain] = Element(DISCO_ITEM, {"jid": domain})
        self.server.disco.extra_items.append(item)
        return True

    def detach(self, stream: ComponentStream) -> bool:
        """The stream has ended: if it served its domain (True), the domain has no component
        any more."""
        domain = stream.domain
        if self.streams.get(domain) is not stream:
            return False
        del self.streams[domain]
        item = self._items.pop(domain, None)
        if item is not None and item in self.server.disco.extra_items:
            self.server.disco.extra_items.remove(item)
        return True


class ComponentStream(StreamSession):
    """One component connection: header, handshake, then stanzas to and from the router.

    As in c2s, events are handled one at a time, in order: when the router must wait (database,
    hooks), reading pauses and later events queue until it is done.
    """

    transport_name = "component"
    kind = "component"

    def __init__(
        self, server: Server, components: ComponentsModule, channel: ComponentChannel
    ) -> None:
        super().__init__(server)
        self.components = components
        self.channel = channel
        self.state = ComponentState.WAIT_HEADER
        self.domain = ""  # the component's domain, once its header named a configured one
        self._header_sent = False
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            server.settings.auth_timeout, self._timed_out
        )
        server.connections.add(self)

    # -- input ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.state is not ComponentState.CLOSED:
            self._feed(data)

    def _input_ended(self) -> bool:
        return self.state is ComponentState.CLOSED

    @property
    def _pump_channel(self) -> ComponentChannel:
        return self.channel

    def _handle(self, event: Event) -> Awaitable[None] | None:
        if isinstance(event, ElementReceived):
            return self._element(event.element)
        if isinstance(event, StreamOpened):
            self._opened(event)
            return None
        assert isinstance(event, StreamClosed)
        self.close()
        return None

    def _move(self, state: ComponentState) -> None:
        assert can_move(self.state, state), (self.state, state)
        self.state = state

    def _opened(self, event: StreamOpened) -> None:
        domain, error = check_header(
            event.tag, event.default_ns, event.attrs.get("to"), self.components.secrets.keys()
        )
        self.stream_id = _new_stream_id()
        self._write_header(domain or self.server.domain)
        if error is not None:
            self.close(error, "no such component" if domain is None else "")
            return
        assert domain is not None
        self.domain = domain
        self._move(ComponentState.WAIT_HANDSHAKE)

    def _write_header(self, domain: str) -> None:
        self.channel.write(header(domain=domain, stream_id=self.stream_id))
        self._header_sent = True

    def _element(self, el: Element) -> Awaitable[None] | None:
        state = self.state
        if state is ComponentState.READY and el.tag in STANZA_TAGS:
            return self._stanza(el)
        if state is ComponentState.WAIT_HANDSHAKE and el.tag == HANDSHAKE:
            self._handshake(el)
            return None
        refusal = REFUSAL.get(state, StreamErrorCondition.POLICY_VIOLATION)
        self.close(refusal, f"unexpected element in state {state.value}")
        return None

    def _handshake(self, el: Element) -> None:
        secret = self.components.secrets[self.domain]
        if not handshake_valid(el.text, self.stream_id, secret):
            self.server.stats.auth_failures += 1
            log.info(
                "component stream %s: wrong handshake for %s from %s",
                self.stream_id,
                self.domain,
                self.channel.peer,
            )
            self.close(StreamErrorCondition.NOT_AUTHORIZED, "wrong handshake")
            return
        if not self.components.attach(self):
            log.info(
                "component stream %s: %s is connected already; refused %s",
                self.stream_id,
                self.domain,
                self.channel.peer,
            )
            self.close(StreamErrorCondition.CONFLICT, "this component is connected already")
            return
        self._cancel_timer()
        self._move(ComponentState.READY)
        self.channel.write(HANDSHAKE_OK)
        log.info(
            "component stream %s: %s connected from %s",
            self.stream_id,
            self.domain,
            self.channel.peer,
        )

    def _stanza(self, el: Element) -> Awaitable[None] | None:
        to_client_namespace(el)
        sender = sender_in_domain(el.get("from"), self.domain)
        if sender is None:
            self.close(StreamErrorCondition.INVALID_FROM, f"from must be a JID of {self.domain}")
            return None
        el.set("from", str(sender))
        if el.get("to") is None:
            if el.tag != PRESENCE and el.get("type") not in ("error", "result"):
                error = StanzaError(StanzaErrorCondition.BAD_REQUEST, "a stanza needs a 'to'")
                self.deliver(error_reply(el, error))
            return None
        return self.server.router.route(el, sender, None)

    # -- output --------------------------------------------------------------------------

    def deliver(self, stanza: Element) -> None:
        if self.state is not ComponentState.READY:
            return
        channel = self.channel
        channel.write(serialize(stanza))
        if channel.write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("component stream %s: %s does not read", self.stream_id, self.domain)
            self.close(StreamErrorCondition.RESOURCE_CONSTRAINT, "the component is not reading")

    # -- ending --------------------------------------------------------------------------

    def _timed_out(self) -> None:
        self._timer = None
        if self.state is not ComponentState.READY:
            self.close(StreamErrorCondition.CONNECTION_TIMEOUT, "no handshake in time")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self, condition: StreamErrorCondition | None = None, text: str = "") -> None:
        """Send the stream error (if any) and the closing tag, then close the connection."""
        if self.state is ComponentState.CLOSED:
            return
        if not self._header_sent:
            # the peer reads nothing before our header
            self.stream_id = self.stream_id or _new_stream_id()
            self._write_header(self.domain or self.server.domain)
        if condition is not None:
            log.info("component stream %s: closing with %s %s", self.stream_id, condition, text)
            self.channel.write(stream_error(condition, text))
        self.channel.write(STREAM_CLOSE)
        self.state = ComponentState.CLOSED
        self.channel.close()
        self._end()

    def connection_lost(self) -> None:
        """The transport is gone: the stream ends (its domain is free again)."""
        self.server.connections.discard(self)
        self.state = ComponentState.CLOSED
        self._clear_queue()
        self._end()

    def _end(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.parser.close()
        self._cancel_timer()
        if self.components.detach(self):
            log.info("component stream %s: %s disconnected", self.stream_id, self.domain)


def _new_stream_id() -> str:
    return secrets.token_hex(8)
