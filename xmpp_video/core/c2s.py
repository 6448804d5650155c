"""A client-to-server stream: negotiation (TLS, SASL, bind) then stanzas to the router.

Transport-agnostic: it reads bytes from and writes bytes to a `Channel` (TCP now, WebSocket
later), so every feature works on both. Ordering: events are handled one at a time; when handling
one must wait (database, hooks), reading pauses and later events queue until it is done, so a
client's stanzas are processed in the order it sent them (RFC 6120 §10.1).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import secrets
from collections import deque
from collections.abc import Awaitable
from typing import Protocol
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.auth.oauthbearer import OAuthBearerServer
from xmpp_video.auth.passwords import ScramHash
from xmpp_video.auth.plain import parse_plain
from xmpp_video.auth.scram import SaslFailure, ScramServer
from xmpp_video.auth.tokens import TokenError, TokenKind
from xmpp_video.core.events import SessionBound, SessionClosed
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.jid import JID, InvalidJID, prep_local
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import iq_result
from xmpp_video.stanza.conditions import StanzaErrorCondition, StreamErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply
from xmpp_video.stream.features import post_auth_features, pre_auth_features
from xmpp_video.stream.states import (
    ABORT,
    ALLOWED,
    AUTH,
    REFUSAL,
    RESPONSE,
    STARTTLS,
    StreamState,
    can_move,
)
from xmpp_video.xml import (
    ElementReceived,
    Event,
    StreamClosed,
    StreamOpened,
    StreamParser,
    XmlStreamError,
)
from xmpp_video.xml.framing import Framing

log = logging.getLogger(__name__)

STREAM_TAG = f"{{{ns.STREAM}}}stream"
BIND_TAG = f"{{{ns.BIND}}}bind"
MAX_SASL_FAILURES = 3
MAX_WRITE_BUFFER = 4 * 1024 * 1024
SCRAM_MECHANISMS = {"SCRAM-SHA-256": ScramHash.SHA256, "SCRAM-SHA-1": ScramHash.SHA1}


class Channel(Protocol):
    """What a stream needs from its transport."""

    encrypted: bool
    peer: str

    @property
    def framing(self) -> Framing:
        """How stream headers, features, errors and stanzas look on this transport."""
        ...

    def write(self, data: bytes) -> None: ...
    def write_buffer_size(self) -> int: ...
    def close(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def can_starttls(self) -> bool: ...
    async def starttls(self) -> None: ...


def _sasl(name: str, text: bytes | None = None) -> bytes:
    if text is None:
        return f"<{name} xmlns='{ns.SASL}'/>".encode()
    body = base64.b64encode(text).decode() if text else "="
    return f"<{name} xmlns='{ns.SASL}'>{body}</{name}>".encode()


def _sasl_failure(condition: str) -> bytes:
    return f"<failure xmlns='{ns.SASL}'><{condition}/></failure>".encode()


class C2SStream(Session):
    def __init__(self, server: Server, channel: Channel, transport_name: str = "tcp") -> None:
        super().__init__()
        self.server = server
        self.channel = channel
        self.transport_name = transport_name
        settings = server.settings
        self.parser = StreamParser(
            max_element_size=settings.max_stanza_size, max_depth=settings.max_depth
        )
        self.state = StreamState.WAIT_HEADER
        self.stream_id = ""
        self._header_sent = False  # our header for the current XML document is out
        self.authenticated_as: JID | None = None
        self._scram: ScramServer | OAuthBearerServer | None = None  # a SASL exchange
        self._sasl_failures = 0
        # events not handled yet; None while there are none (most of an idle stream's life)
        self._queue: deque[Event] | None = None
        self._busy = False
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            settings.auth_timeout, self._auth_timed_out
        )
        self.active = True  # received data since the last compaction sweep (core/compactor.py)
        server.connections.add(self)

    # -- input ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.active = True
        if self.state is StreamState.CLOSED:
            return
        try:
            events = self.parser.feed(data)
        except XmlStreamError as exc:
            self.close(exc.condition, exc.text)
            return
        if not events:
            return
        if self._queue is None:
            self._queue = deque(events)
        else:
            self._queue.extend(events)
        if not self._busy:
            self._drain()

    def _clear_queue(self) -> None:
        if self._queue is not None:
            self._queue.clear()

    def _drain(self) -> None:
        queue = self._queue
        while queue and self.state is not StreamState.CLOSED:
            event = queue.popleft()
            try:
                pending = self._handle(event)
            except Exception:
                log.exception("stream %s: handling failed", self.stream_id)
                self.close(StreamErrorCondition.INTERNAL_SERVER_ERROR)
                return
            if pending is not None:
                self._busy = True
                self.channel.pause_reading()
                self.server.tasks.spawn(self._wait(pending), name=f"c2s-{self.stream_id}")
                return
        if queue is not None and not queue and queue is self._queue:
            self._queue = None

    async def _wait(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            log.exception("stream %s: handler failed", self.stream_id)
            self.close(StreamErrorCondition.INTERNAL_SERVER_ERROR)
        self._busy = False
        if self.state is not StreamState.CLOSED:
            self.channel.resume_reading()
            self._drain()

    def _handle(self, event: Event) -> Awaitable[None] | None:
        if isinstance(event, ElementReceived):
            return self._element(event.element)
        if isinstance(event, StreamOpened):
            self._stream_opened(event)
            return None
        assert isinstance(event, StreamClosed)
        self.close()
        return None

    def _move(self, state: StreamState) -> None:
        assert can_move(self.state, state), (self.state, state)
        self.state = state

    # -- stream header -------------------------------------------------------------------

    def _stream_opened(self, event: StreamOpened) -> None:
        if self.state is not StreamState.WAIT_HEADER:
            self.close(StreamErrorCondition.POLICY_VIOLATION, "unexpected stream header")
            return
        self.stream_id = secrets.token_hex(8)
        self._write_header()
        to = event.attrs.get("to")
        if event.tag != STREAM_TAG:
            self.close(StreamErrorCondition.INVALID_NAMESPACE)
            return
        if event.default_ns != ns.CLIENT:
            self.close(StreamErrorCondition.INVALID_NAMESPACE)
            return
        if to is None or to.lower() != self.server.domain:
            self.close(StreamErrorCondition.HOST_UNKNOWN, "this server does not serve that domain")
            return
        version = event.attrs.get("version", "0.9")
        if not version.startswith("1."):
            self.close(StreamErrorCondition.UNSUPPORTED_VERSION)
            return
        if self.authenticated_as is not None:
            self._move(StreamState.WAIT_BIND)
            extra = self.server.stream_features
            self.channel.write(self.channel.framing.features(list(post_auth_features(extra))))
            return
        self._move(StreamState.NEGOTIATING)
        features = pre_auth_features(
            offer_tls=self.channel.can_starttls(),
            tls_required=self._tls_required,
            mechanisms=self._mechanisms(),
        )
        self.channel.write(self.channel.framing.features(list(features)))

    def _write_header(self) -> None:
        self.channel.write(
            self.channel.framing.header(from_=self.server.domain, id_=self.stream_id)
        )
        self._header_sent = True

    def _restart(self) -> None:
        """A new XML document follows (after TLS or SASL success, RFC 6120 §4.3.3)."""
        self.parser.reset()
        self._clear_queue()
        self._header_sent = False

    @property
    def _tls_required(self) -> bool:
        """REQUIRE_TLS applies where TLS can be negotiated (STARTTLS on TCP). A WebSocket is
        encrypted or not from the start (wss://): there SPEC §10 holds as it stands, SCRAM
        always, PLAIN and OAUTHBEARER only when encrypted."""
        return (
            self.server.settings.require_tls
            and not self.channel.encrypted
            and self.channel.can_starttls()
        )

    def _mechanisms(self) -> list[str]:
        if self._tls_required:
            return []
        mechanisms = list(SCRAM_MECHANISMS)
        if self.channel.encrypted:
            mechanisms.append("PLAIN")
            if self.server.tokens is not None:
                mechanisms.append("OAUTHBEARER")
        return mechanisms

    # -- elements ------------------------------------------------------------------------

    def _element(self, el: Element) -> Awaitable[None] | None:
        allowed = ALLOWED.get(self.state)
        if allowed is None or el.tag not in allowed:
            if self.state is StreamState.NEGOTIATING and el.tag.startswith(f"{{{ns.CLIENT}}}"):
                self.close(StreamErrorCondition.NOT_AUTHORIZED)
            else:
                self.close(
                    REFUSAL.get(self.state, StreamErrorCondition.POLICY_VIOLATION),
                    f"unexpected element in state {self.state.value}",
                )
            return None
        if self.state is StreamState.BOUND:
            return self._stanza(el)
        if el.tag == STARTTLS:
            return self._starttls()
        if el.tag == AUTH:
            return self._auth(el)
        if el.tag == RESPONSE:
            return self._response(el)
        if el.tag == ABORT:
            self._scram = None
            self._move(StreamState.NEGOTIATING)
            self.channel.write(_sasl_failure("aborted"))
            return None
        return self._bind(el)

    def _starttls(self) -> Awaitable[None] | None:
        if not self.channel.can_starttls():
            self.close(StreamErrorCondition.UNSUPPORTED_FEATURE, "TLS is not available")
            return None
        self.channel.write(f"<proceed xmlns='{ns.TLS}'/>".encode())
        self._move(StreamState.TLS_HANDSHAKE)
        return self._do_starttls()

    async def _do_starttls(self) -> None:
        self._clear_queue()  # nothing may follow <starttls/> in clear text
        try:
            await self.channel.starttls()
        except (OSError, ConnectionError) as exc:
            log.info("stream %s: TLS handshake failed: %s", self.stream_id, exc)
            self.abort()
            return
        if self.state is StreamState.CLOSED:
            return  # closed (timeout, shutdown) during the handshake
        self._restart()
        self._move(StreamState.WAIT_HEADER)

    # -- SASL ----------------------------------------------------------------------------

    def _decode(self, el: Element) -> bytes | None:
        text = (el.text or "").strip()
        if text == "=":
            return b""
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None

    def _auth(self, el: Element) -> Awaitable[None] | None:
        mechanism = el.get("mechanism", "")
        if self._tls_required:
            self.channel.write(_sasl_failure("encryption-required"))
            return None
        if mechanism not in self._mechanisms():
            self._move(StreamState.NEGOTIATING) if self.state is StreamState.SASL else None
            self.channel.write(_sasl_failure("invalid-mechanism"))
            return None
        data = self._decode(el)
        if data is None:
            self._fail("incorrect-encoding")
            return None
        if mechanism == "PLAIN":
            return self._plain(data)
        if mechanism == "OAUTHBEARER":
            return self._oauthbearer(data)
        return self._scram_first(SCRAM_MECHANISMS[mechanism], data)

    async def _plain(self, data: bytes) -> None:
        try:
            authzid, authcid, password = parse_plain(data)
            username = prep_local(authcid)
        except SaslFailure as exc:
            self._fail(exc.condition)
            return
        except InvalidJID:
            self._fail("not-authorized")
            return
        ok = await self.server.accounts.check_password(username, password)
        if self.state is StreamState.CLOSED:
            return  # closed (timeout, disconnect) while the password was checked
        if not ok:
            self._fail("not-authorized")
            return
        self._succeed(username, authzid, b"")

    async def _oauthbearer(self, data: bytes) -> None:
        """RFC 7628 with the HTTP API's access token (SPEC §4). A refused token gets the
        error challenge; the client's dummy response then ends the exchange (`_response`)."""
        exchange = OAuthBearerServer()
        try:
            request = exchange.start(data)
        except SaslFailure as exc:
            self._fail(exc.condition)
            return
        tokens = self.server.tokens
        assert tokens is not None
        try:
            username: str | None = tokens.verify(request.token, TokenKind.ACCESS).sub
        except TokenError:
            username = None
        if username is not None and not await self.server.accounts.exists(username):
            username = None  # the account was deleted after the token was issued
        if self.state is StreamState.CLOSED:
            return
        if username is not None:
            exchange.accept()
            self._succeed(username, request.authzid, b"")
            return
        self._scram = exchange
        if self.state is not StreamState.SASL:
            self._move(StreamState.SASL)
        self.channel.write(_sasl("challenge", exchange.error_challenge()))

    async def _scram_first(self, hash_: ScramHash, data: bytes) -> None:
        scram = ScramServer(hash_)
        try:
            username = prep_local(scram.client_first(data))
        except SaslFailure as exc:
            self._fail(exc.condition)
            return
        except InvalidJID:
            # no such account can exist: answer exactly as for a wrong password (dummy keys)
            username = "\x00invalid"
        creds = await self.server.accounts.scram_credentials(username, hash_)
        if self.state is StreamState.CLOSED:
            return
        challenge = scram.server_first(creds)
        self._scram = scram
        if self.state is not StreamState.SASL:
            self._move(StreamState.SASL)
        self.channel.write(_sasl("challenge", challenge))

    def _response(self, el: Element) -> Awaitable[None] | None:
        scram = self._scram
        if scram is None:
            self._fail("malformed-request")
            return None
        data = self._decode(el)
        if data is None:
            self._fail("incorrect-encoding")
            return None
        if isinstance(scram, OAuthBearerServer):
            try:
                scram.finish_after_error(data)
            except SaslFailure as exc:
                self._fail(exc.condition)
            return None
        try:
            final = scram.client_final(data)
        except SaslFailure as exc:
            self._fail(exc.condition)
            return None
        self._succeed(prep_local(scram.username), scram.authzid, final)
        return None

    def _succeed(self, username: str, authzid: str | None, final: bytes) -> None:
        jid = JID(username, self.server.domain)
        if authzid and authzid not in (str(jid), username):
            self._fail("invalid-authzid")
            return
        self._scram = None
        self.authenticated_as = jid
        self.channel.write(_sasl("success", final) if final else _sasl("success"))
        self._move(StreamState.WAIT_RESTART)
        self._restart()
        self._move(StreamState.WAIT_HEADER)

    def _fail(self, condition: str) -> None:
        if self.state is StreamState.CLOSED:
            return  # an exchange that was still running when the stream ended
        self._scram = None
        self._sasl_failures += 1
        self.server.stats.auth_failures += 1
        self.channel.write(_sasl_failure(condition))
        if self.state is StreamState.SASL:
            self._move(StreamState.NEGOTIATING)
        if self._sasl_failures >= MAX_SASL_FAILURES:
            self.close(StreamErrorCondition.POLICY_VIOLATION, "too many authentication failures")

    # -- resource binding ----------------------------------------------------------------

    def _bind(self, el: Element) -> Awaitable[None] | None:
        payload = el[0] if len(el) == 1 else None
        if el.get("type") != "set" or payload is None or el.get("id") is None:
            self.deliver(error_reply(el, StanzaError(StanzaErrorCondition.BAD_REQUEST)))
            return None
        if payload.tag == f"{{{ns.SESSION}}}session":
            self.deliver(iq_result(el))
            return None
        if payload.tag != BIND_TAG:
            self.close(StreamErrorCondition.NOT_AUTHORIZED, "bind a resource first")
            return None
        assert self.authenticated_as is not None
        requested = (payload.findtext(f"{{{ns.BIND}}}resource") or "").strip()
        try:
            jid = self.authenticated_as.with_resource(requested or secrets.token_hex(6))
        except InvalidJID:
            self.deliver(error_reply(el, StanzaError(StanzaErrorCondition.BAD_REQUEST)))
            return None
        registry = self.server.registry
        while registry.has_resource(self.authenticated_as_str, str(jid.resource)):
            # RFC 6120 §7.7.2.2: on conflict, the server picks a resource for the client
            try:
                jid = self.authenticated_as.with_resource(f"{requested}.{secrets.token_hex(3)}")
            except InvalidJID:  # the requested one was already as long as a resource may be
                jid = self.authenticated_as.with_resource(secrets.token_hex(6))
        self.bind(jid)
        registry.add(self)
        self._move(StreamState.BOUND)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        result = Element(BIND_TAG)
        SubElement(result, f"{{{ns.BIND}}}jid").text = self.full
        self.deliver(iq_result(el, result))
        log.info("stream %s: bound %s from %s", self.stream_id, self.full, self.channel.peer)
        return self.server.hooks.fire(SessionBound(self))

    @property
    def authenticated_as_str(self) -> str:
        return str(self.authenticated_as)

    # -- stanzas -------------------------------------------------------------------------

    def _stanza(self, el: Element) -> Awaitable[None] | None:
        assert self.jid is not None
        from_ = el.get("from")
        if from_ is not None and from_ != self.full and from_ != self.bare:
            try:
                claimed = JID.parse(from_)
            except InvalidJID:
                claimed = None
            if claimed is None or (claimed != self.jid and claimed != self.jid.bare):
                self.close(StreamErrorCondition.INVALID_FROM, "from does not match your JID")
                return None
        el.set("from", self.full)
        return self.server.router.route(el, self.jid, self)

    # -- output --------------------------------------------------------------------------

    def deliver(self, stanza: Element) -> None:
        if self.state is StreamState.CLOSED:
            return
        self.channel.write(self.channel.framing.stanza(stanza))
        if self.channel.write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("stream %s: client does not read; closing", self.stream_id)
            self.close(StreamErrorCondition.RESOURCE_CONSTRAINT, "client is not reading")

    # -- ending --------------------------------------------------------------------------

    def _auth_timed_out(self) -> None:
        self._timer = None
        if self.state is not StreamState.BOUND:
            self.close(StreamErrorCondition.CONNECTION_TIMEOUT, "authentication took too long")

    def close(self, condition: StreamErrorCondition | None = None, text: str = "") -> None:
        """Send the stream error (if any) and the closing tag, then close the transport."""
        if self.state is StreamState.CLOSED:
            return
        if not self._header_sent:
            # the peer waits for our header of this document before it can read anything
            self.stream_id = self.stream_id or secrets.token_hex(8)
            self._write_header()
        if condition is not None:
            log.info("stream %s: closing with %s %s", self.stream_id, condition, text)
            self.channel.write(self.channel.framing.error(condition, text))
        self.channel.write(self.channel.framing.close)
        self.abort()

    def abort(self) -> None:
        """Close the transport without writing anything more."""
        if self.state is not StreamState.CLOSED:
            self.state = StreamState.CLOSED
            self.channel.close()

    def connection_lost(self) -> None:
        """The transport is gone: leave the registry and tell the modules, once."""
        self.state = StreamState.CLOSED
        self.server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.closed:
            return
        self.closed = True
        self._clear_queue()
        if self.jid is not None and self.server.registry.remove(self):
            self.server.tasks.spawn(
                self.server.hooks.fire(SessionClosed(self)), name=f"closed-{self.full}"
            )
