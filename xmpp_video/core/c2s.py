"""A client-to-server stream: negotiation (TLS, SASL, bind) then stanzas to the router.

Transport-agnostic: it reads bytes from and writes bytes to a `Channel` (TCP now, WebSocket
later), so every feature works on both. Ordering: events are handled one at a time; when handling
one must wait (database, hooks), reading pauses and later events queue until it is done, so a
client's stanzas are processed in the order it sent them (RFC 6120 §10.1).

Stream management (XEP-0198) and client state indication (XEP-0352) live here too, since they
shape every stanza the stream sends (their pure parts: `stream.sm`, `stream.csi`):

* ``<enable/>`` (once bound) creates the session's `SmState`: stanzas received are counted
  (``handled``), stanzas delivered are kept in ``unacked`` until the client's ``<a h/>``
  covers them. The server asks for an ack (``<r/>``) after ``SM_ACK_EVERY`` unacknowledged
  stanzas, or 1 s after the first one. More than ``SM_QUEUE_LIMIT`` unacknowledged: the
  stream closes with ``<resource-constraint/>`` (a client that does not ack is, for this
  purpose, a client that does not read).
* When the connection of a resumable session drops (no ``</stream:stream>`` from the client,
  no stream error from us; or the keepalive gave up on it, `drop`), the session *hibernates*
  (state HIBERNATING): it stays in the registry with its presence, is no longer in
  ``server.connections``, and queues what is delivered to it (bounded by ``SM_QUEUE_LIMIT``:
  past it the session ends). ``<resume previd h/>`` on a new stream of the same account,
  after SASL, hands the new connection over to the hibernating session object (`_hand_over`:
  the transport's consumer becomes that object, so modules that hold it see the same
  session), answers ``<resumed/>`` and resends what ``h`` does not cover. If the old
  connection is still open it gets ``<conflict/>``. After ``SM_RESUMPTION_TIMEOUT`` it ends.
* A session ends once (`_end`): its resumption id is forgotten (its final ``h`` kept for a
  late ``<resume/>``), what it never acknowledged goes to offline storage or bounces
  (`core.resumption.undeliverable`, in order, also what arrives meanwhile), then it leaves
  the registry and `SessionClosed` fires (presence unavailable to contacts).
* ``<inactive/>``: a `CsiBuffer` holds and collapses presence and chat-state updates until
  ``<active/>``; everything else goes at once.

SASL2 (XEP-0388) with Bind 2, inline resumption and FAST (XEP-0484) runs the same mechanisms
(``_start_mechanism``) and answers in its own namespace while ``_sasl2_request`` is set; what
happens after authentication is `core.c2s_sasl2`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import secrets
from collections.abc import Awaitable
from typing import Protocol
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.auth.oauthbearer import OAuthBearerServer
from xmpp_video.auth.passwords import ScramHash
from xmpp_video.auth.plain import parse_plain
from xmpp_video.auth.scram import SaslFailure, ScramServer
from xmpp_video.auth.tokens import TokenError, TokenKind
from xmpp_video.core import c2s_sasl2
from xmpp_video.core.events import (
    SessionBound,
    SessionClosed,
    SessionHibernating,
    SessionResumed,
    StanzaQueuedWhileHibernating,
)
from xmpp_video.core.resumption import undeliverable
from xmpp_video.core.server import PreAuthIq, Server
from xmpp_video.core.stream_session import StreamSession
from xmpp_video.jid import JID, InvalidJID, prep_local
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import iq, iq_result
from xmpp_video.stanza.conditions import StanzaErrorCondition, StreamErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply
from xmpp_video.stream import sasl2, sm
from xmpp_video.stream.csi import CsiBuffer
from xmpp_video.stream.features import post_auth_features, pre_auth_features
from xmpp_video.stream.sm import SmState
from xmpp_video.stream.states import (
    ABORT,
    ALLOWED,
    AUTH,
    AUTHENTICATE,
    CSI_ACTIVE,
    CSI_INACTIVE,
    IQ,
    NONZAS,
    REFUSAL,
    RESPONSE,
    SASL2_ABORT,
    SASL2_RESPONSE,
    SM_ACK,
    SM_ENABLE,
    SM_REQUEST,
    SM_RESUME,
    STARTTLS,
    StreamState,
    can_move,
)
from xmpp_video.xml import (
    ElementReceived,
    Event,
    StreamClosed,
    StreamOpened,
)
from xmpp_video.xml.framing import Framing

log = logging.getLogger(__name__)

STREAM_TAG = f"{{{ns.STREAM}}}stream"
BIND_TAG = f"{{{ns.BIND}}}bind"
MAX_SASL_FAILURES = 3
MAX_WRITE_BUFFER = 4 * 1024 * 1024
SCRAM_MECHANISMS = {"SCRAM-SHA-256": ScramHash.SHA256, "SCRAM-SHA-1": ScramHash.SHA1}
SM_ACK_DELAY = 1.0  # seconds after an unacknowledged stanza before the server asks for an ack


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
    def attach(self, stream: C2SStream) -> None:
        """From now on, hand what is read (and the end of the connection) to ``stream``: a
        resumed session takes over the connection its ``<resume/>`` came on (XEP-0198)."""
        ...


def _sasl(name: str, text: bytes | None = None) -> bytes:
    if text is None:
        return f"<{name} xmlns='{ns.SASL}'/>".encode()
    body = base64.b64encode(text).decode() if text else "="
    return f"<{name} xmlns='{ns.SASL}'>{body}</{name}>".encode()


def _sasl_failure(condition: str) -> bytes:
    return f"<failure xmlns='{ns.SASL}'><{condition}/></failure>".encode()


class C2SStream(StreamSession):
    kind = "c2s"
    __slots__ = (
        "_ack_timer",
        "_connected",
        "_draining",
        "_expiry",
        "_header_sent",
        "_sasl2_request",
        "_sasl_failures",
        "_scram",
        "_timer",
        "active",
        "authenticated_as",
        "channel",
        "csi",
        "heard",
        "pinged_at",
        "silent_sweeps",
        "sm",
        "state",
        "transport_name",
    )

    def __init__(self, server: Server, channel: Channel, transport_name: str = "tcp") -> None:
        super().__init__(server)
        self.heard = True  # received data since the last keepalive sweep (core/keepalive.py)
        self.silent_sweeps = 0  # keepalive sweeps in a row without data
        self.pinged_at = -1  # silent_sweeps when the keepalive ping went out; -1: none out
        self._ack_timer: asyncio.TimerHandle | None = None  # a delayed <r/>
        self._expiry: asyncio.TimerHandle | None = None  # end of hibernation
        self._connected = True  # the transport has not reported the end of the connection yet
        self._draining = False  # ended; unacknowledged stanzas are being stored or bounced
        self._sasl2_request: sasl2.Authenticate | None = None  # a SASL2 (XEP-0388) exchange
        self.channel = channel
        self.transport_name = transport_name
        settings = server.settings
        self.state = StreamState.WAIT_HEADER
        self._header_sent = False  # our header for the current XML document is out
        self.authenticated_as: JID | None = None
        self._scram: ScramServer | OAuthBearerServer | None = None  # a SASL exchange
        self._sasl_failures = 0
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            settings.auth_timeout, self._auth_timed_out
        )
        self.active = True  # received data since the last compaction sweep (core/compactor.py)
        self.sm: SmState | None = None  # XEP-0198, from <enable/>
        self.csi: CsiBuffer | None = None  # XEP-0352: not None while the client is inactive
        server.connections.add(self)

    # -- input ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.active = True
        self.heard = True
        state = self.state
        if state is StreamState.CLOSED or state is StreamState.HIBERNATING:
            return
        self._feed(data)

    def _input_ended(self) -> bool:
        return self.state is StreamState.CLOSED

    @property
    def _pump_channel(self) -> Channel:
        return self.channel

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
        mechanisms = self._mechanisms()
        features = pre_auth_features(
            offer_tls=self.channel.can_starttls(),
            tls_required=self._tls_required,
            mechanisms=mechanisms,
        )
        if mechanisms:  # XEP-0388 SASL2, with Bind 2, inline resumption and FAST
            features.append(c2s_sasl2.feature(self, mechanisms))
        if self.channel.encrypted:
            features.extend(self.server.pre_auth_stream_features)  # XEP-0077 <register/>
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
        if self.state is StreamState.NEGOTIATING and el.tag == IQ and len(el) == 1:
            handler = self.server.pre_auth_iqs.get(el[0].tag) if self.channel.encrypted else None
            if handler is not None:  # XEP-0077 registration before authentication
                peer = self.channel.peer
                return handler(PreAuthIq(el, peer, self.transport_name, self.deliver))
        allowed = ALLOWED.get(self.state)
        if allowed is None or el.tag not in allowed:
            nonzas = NONZAS.get(self.state)
            if nonzas is not None and el.tag in nonzas:
                return self._nonza(el)
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
        if el.tag == AUTHENTICATE:
            return c2s_sasl2.authenticate(self, el)
        if (el.tag == SASL2_RESPONSE or el.tag == SASL2_ABORT) != (self._sasl2_request is not None):
            # XEP-0388 §2.4: during a SASL2 exchange only its <response/> and <abort/>
            self.close(StreamErrorCondition.POLICY_VIOLATION, "element of the other SASL profile")
            return None
        if el.tag == AUTH:
            return self._auth(el)
        if el.tag == RESPONSE or el.tag == SASL2_RESPONSE:
            return self._response(el)
        if el.tag == ABORT or el.tag == SASL2_ABORT:
            self._scram = None
            self._sasl2_request = None
            self._move(StreamState.NEGOTIATING)
            self.channel.write(
                sasl2.failure("aborted") if el.tag == SASL2_ABORT else _sasl_failure("aborted")
            )
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
        return self._start_mechanism(mechanism, data)

    def _start_mechanism(self, mechanism: str, data: bytes) -> Awaitable[None]:
        """Run one of `_mechanisms()` with the client's initial response (SASL1 or 2)."""
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
        pending = self._succeed(username, authzid, b"")
        if pending is not None:
            await pending

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
            pending = self._succeed(username, request.authzid, b"")
            if pending is not None:
                await pending
            return
        self._scram = exchange
        if self.state is not StreamState.SASL:
            self._move(StreamState.SASL)
        self._challenge(exchange.error_challenge())

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
        self._challenge(challenge)

    def _challenge(self, data: bytes) -> None:
        sasl2_running = self._sasl2_request is not None
        self.channel.write(sasl2.challenge(data) if sasl2_running else _sasl("challenge", data))

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
        return self._succeed(prep_local(scram.username), scram.authzid, final)

    def _succeed(
        self,
        username: str,
        authzid: str | None,
        final: bytes,
        fast: c2s_sasl2.FastUse | None = None,
    ) -> Awaitable[None] | None:
        """Authenticated: SASL1 ``<success/>`` and a stream restart, or the SASL2 completion
        (`c2s_sasl2.complete`: FAST token, resumption or Bind 2, then ``<success>``)."""
        jid = JID(username, self.server.domain)
        if authzid and authzid not in (str(jid), username):
            self._fail("invalid-authzid")
            return None
        self._scram = None
        if self._sasl2_request is not None:
            return c2s_sasl2.complete(self, jid, final, fast)
        self.authenticated_as = jid
        self.channel.write(_sasl("success", final) if final else _sasl("success"))
        self._move(StreamState.WAIT_RESTART)
        self._restart()
        self._move(StreamState.WAIT_HEADER)
        return None

    def _fail(self, condition: str, text: str = "", *, sasl2_profile: bool | None = None) -> None:
        """The exchange failed: ``<failure/>`` of the profile in use (SASL2: with ``text``);
        the client may try again, up to MAX_SASL_FAILURES."""
        if self.state is StreamState.CLOSED:
            return  # an exchange that was still running when the stream ended
        if sasl2_profile is None:
            sasl2_profile = self._sasl2_request is not None
        self._scram = None
        self._sasl2_request = None
        self._sasl_failures += 1
        self.server.stats.auth_failures += 1
        self.channel.write(
            sasl2.failure(condition, text) if sasl2_profile else _sasl_failure(condition)
        )
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
        self._bound(jid)
        result = Element(BIND_TAG)
        SubElement(result, f"{{{ns.BIND}}}jid").text = self.full
        self.deliver(iq_result(el, result))
        return self.server.hooks.fire(SessionBound(self))

    def _bound(self, jid: JID) -> None:
        """Bind ``jid`` (a resource free in the registry) to this stream: stanzas flow."""
        self.bind(jid)
        self.server.registry.add(self)
        self._move(StreamState.BOUND)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        log.info("stream %s: bound %s from %s", self.stream_id, self.full, self.channel.peer)

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
        state = self.sm
        if state is not None:
            state.handled = (state.handled + 1) % sm.MODULUS
        return self.server.router.route(el, self.jid, self)

    # -- nonzas: stream management (XEP-0198), client state indication (XEP-0352) ----------

    def _nonza(self, el: Element) -> Awaitable[None] | None:
        tag = el.tag
        if self.state is StreamState.WAIT_BIND:
            if tag == SM_RESUME:
                self._resume(el)
            else:  # <enable/>: XEP-0198 §3, only once bound; the client may still bind
                self.channel.write(sm.failed(StanzaErrorCondition.UNEXPECTED_REQUEST))
            return None
        if tag == CSI_INACTIVE:
            if self.csi is None:
                self.csi = CsiBuffer(self.server.settings.csi_queue_limit)
            return None
        if tag == CSI_ACTIVE:
            self._activate()
            return None
        if tag == SM_ENABLE:
            self._enable(el)
            return None
        state = self.sm
        if state is None:
            self.close(
                StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "stream management is not enabled"
            )
            return None
        if tag == SM_REQUEST:
            self.channel.write(sm.ack(state.handled))
            return None
        assert tag == SM_ACK
        h = sm.parse_h(el.get("h"))
        if h is None:
            self.close(StreamErrorCondition.BAD_FORMAT, "h must be an unsigned 32-bit integer")
            return None
        try:
            state.ack(h)
        except sm.HandledCountTooHigh as exc:
            self.close(StreamErrorCondition.UNDEFINED_CONDITION, str(exc), exc.element())
            return None
        state.requested = False
        if state.unacked and self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(SM_ACK_DELAY, self._request_ack)
        return None

    def _enable(self, el: Element) -> None:
        if self.sm is not None:  # XEP-0198 §3: a second <enable/> ends the stream
            self.close(StreamErrorCondition.POLICY_VIOLATION, "stream management is enabled")
            return
        self.channel.write(sm.enabled(*self._start_sm(sm.truthy(el.get("resume")))))

    def _start_sm(self, resume: bool) -> tuple[str | None, int]:
        """Stream management starts now (``<enable/>``, or inline in Bind 2): the resumption
        id (None: not resumable) and the resumption timeout for ``<enabled/>``."""
        timeout = self.server.settings.sm_resumption_timeout
        id_ = secrets.token_urlsafe(18) if resume and timeout > 0 else None
        self.sm = SmState(id_)
        if id_ is not None:
            self.server.resumption.add(id_, self)
        return id_, max(1, math.ceil(timeout))

    def _request_ack(self) -> None:
        self._ack_timer = None
        state = self.sm
        if state is None or state.requested or not state.unacked:
            return
        if self.state is StreamState.BOUND:
            state.requested = True
            self.channel.write(sm.R)

    def _sent(self, state: SmState, stanza: Element) -> None:
        """Keep a stanza just written until the client acknowledges it; ask for acks."""
        unacked = state.unacked
        unacked.append(stanza)
        count = len(unacked)
        settings = self.server.settings
        if count > settings.sm_queue_limit:
            log.warning("stream %s: %s does not acknowledge; closing", self.stream_id, self.full)
            self.close(StreamErrorCondition.RESOURCE_CONSTRAINT, "too many unacknowledged stanzas")
            return
        if state.requested:
            return
        if count >= settings.sm_ack_every:
            state.requested = True
            self.channel.write(sm.R)
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(SM_ACK_DELAY, self._request_ack)

    def _activate(self) -> None:
        """``<active/>``, or a resumption: send what was held, in order."""
        held = self.csi
        if held is not None:
            self.csi = None
            for stanza in held.flush():
                self.deliver(stanza)

    # -- resumption (XEP-0198 §5) ----------------------------------------------------------

    def _resume(self, el: Element) -> None:
        """``<resume previd h/>`` after SASL: hand this connection over to the hibernating (or
        not yet known to be dropped) session ``previd`` of the same account, or ``<failed/>``
        (the client may bind instead)."""
        found = self._resume_target(el)
        if isinstance(found, sm.ResumeRefused):
            self.channel.write(sm.failed(found.condition, found.h, found.extra))
        else:
            self._hand_over(*found)

    def _resume_target(self, el: Element) -> tuple[C2SStream, SmState] | sm.ResumeRefused:
        """The session ``<resume previd h/>`` (or its SASL2 inline form) asks for, its
        acknowledged stanzas dropped; or why it cannot be resumed."""
        account = self.authenticated_as_str
        previd = el.get("previd", "")
        resumption = self.server.resumption
        target = resumption.get(previd)
        state = target.sm if target is not None else None
        if target is None or state is None or target.bare != account:
            final = resumption.final_h(previd, account)
            return sm.ResumeRefused(StanzaErrorCondition.ITEM_NOT_FOUND, final)
        h = sm.parse_h(el.get("h"))
        if h is None:
            return sm.ResumeRefused(StanzaErrorCondition.BAD_REQUEST, state.handled)
        try:
            state.ack(h)
        except sm.HandledCountTooHigh as exc:
            # the client's idea of this session is wrong: end it (what it never got is kept
            # offline), the client binds a new one
            log.info("stream %s: resume of %s refused: %s", self.stream_id, target.full, exc)
            target.close(StreamErrorCondition.UNDEFINED_CONDITION, str(exc), exc.element())
            return sm.ResumeRefused(
                StanzaErrorCondition.UNDEFINED_CONDITION, state.handled, exc.element()
            )
        return target, state

    def _hand_over(
        self, target: C2SStream, state: SmState, greeting: tuple[bytes, ...] = ()
    ) -> None:
        """``target`` takes over this connection (channel, parser, unhandled input); this
        object takes the old connection, if it still is there, only to close it."""
        old_channel, old_parser = target.channel, target.parser
        old_bound, old_connected = target.state is StreamState.BOUND, target._connected
        if target._expiry is not None:
            target._expiry.cancel()
            target._expiry = None
        target._cancel_ack_timer()
        target.channel, target.parser = self.channel, self.parser
        target.stream_id, target._header_sent = self.stream_id, self._header_sent
        target.transport_name = self.transport_name
        target._queue, self._queue = self._queue, None  # what came after <resume/>
        target.active = target.heard = target._connected = True
        target.silent_sweeps, target.pinged_at = 0, -1
        target.state = StreamState.BOUND
        self.channel.attach(target)
        self.server.connections.add(target)
        self.server.connections.discard(self)
        self.channel, self.parser = old_channel, old_parser
        self.state = StreamState.CLOSED
        if old_connected:
            old_channel.attach(self)  # its end now reaches this closed stream, not the session
            if old_bound:  # XEP-0198 §5: the old stream gets a conflict stream error
                framing = old_channel.framing
                old_channel.write(
                    framing.error(StreamErrorCondition.CONFLICT, "replaced by a resumed stream")
                )
                old_channel.write(framing.close)
            old_channel.close()
        self._end()
        target._resumed(state, greeting)

    def _resumed(self, state: SmState, greeting: tuple[bytes, ...] = ()) -> None:
        """Resumed: ``<resumed/>`` (or, inline in SASL2, the ``greeting``: ``<success>`` with
        it, then the stream features), then what the client had not acknowledged."""
        assert state.id is not None
        channel = self.channel
        if greeting:
            for element in greeting:
                channel.write(element)
            channel.resume_reading()  # paused while the SASL2 exchange completed
        else:
            channel.write(sm.resumed(state.id, state.handled))
        framing = channel.framing
        for stanza in state.unacked:
            channel.write(framing.stanza(stanza))
        state.requested = bool(state.unacked)
        if state.requested:
            channel.write(sm.R)
        log.info(
            "stream %s: resumed %s from %s, %d stanzas resent",
            self.stream_id,
            self.full,
            channel.peer,
            len(state.unacked),
        )
        self._activate()  # a new connection starts active (XEP-0352)
        if self.server.hooks.has(SessionResumed):
            self.server.tasks.spawn(
                self.server.hooks.fire(SessionResumed(self)), name=f"resumed-{self.full}"
            )
        if not self._busy:
            self._drain()

    @property
    def hibernating(self) -> bool:
        return self.state is StreamState.HIBERNATING

    def _resumable(self) -> bool:
        state = self.sm
        return state is not None and state.id is not None

    def _hibernate(self) -> None:
        """The connection is gone, the session stays (registry, presence) for the resumption
        timeout, queueing what is sent to it."""
        state = self.sm
        assert state is not None
        self._move(StreamState.HIBERNATING)
        self.server.connections.discard(self)
        self._clear_queue()  # not counted in h: the client sends it again after resuming
        self._cancel_ack_timer()
        state.requested = False
        self.parser.compact()
        timeout = self.server.settings.sm_resumption_timeout
        self._expiry = asyncio.get_running_loop().call_later(timeout, self._expire)
        log.info(
            "stream %s: %s hibernates (%d unacknowledged, resumable for %g s)",
            self.stream_id,
            self.full,
            len(state.unacked),
            timeout,
        )
        if self.server.hooks.has(SessionHibernating):
            self.server.tasks.spawn(
                self.server.hooks.fire(SessionHibernating(self)), name=f"hibernating-{self.full}"
            )

    def _queue_while_hibernating(self, stanza: Element) -> None:
        csi = self.csi
        if csi is not None and csi.hold(stanza):
            return
        state = self.sm
        assert state is not None
        unacked = state.unacked
        unacked.append(stanza)
        if len(unacked) > self.server.settings.sm_queue_limit:
            log.info("stream %s: queue of hibernating %s full", self.stream_id, self.full)
            self.close()
            return
        hooks = self.server.hooks
        if hooks.has(StanzaQueuedWhileHibernating):
            self.server.tasks.spawn(
                hooks.fire(StanzaQueuedWhileHibernating(self, stanza, len(unacked))),
                name=f"queued-{self.full}",
            )

    def _expire(self) -> None:
        self._expiry = None
        if self.state is StreamState.HIBERNATING:
            log.info("stream %s: %s was not resumed in time", self.stream_id, self.full)
            self.close()

    def _cancel_ack_timer(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None

    # -- keepalive (core/keepalive.py) -----------------------------------------------------

    def keepalive_ping(self) -> None:
        """An XEP-0199 ping from the server; any answer (any data) will do."""
        ping = Element(f"{{{ns.PING}}}ping")
        self.deliver(
            iq(
                "get",
                to=self.full,
                from_=self.server.domain,
                id_=f"keepalive-{secrets.token_hex(4)}",
                payload=ping,
            )
        )

    def drop(self, condition: StreamErrorCondition, text: str) -> None:
        """End the connection with a stream error, as `close`, except that a resumable session
        hibernates (the client may be alive behind a broken network path)."""
        if self.state is not StreamState.BOUND or not self._resumable():
            self.close(condition, text)
            return
        log.info("stream %s: dropping %s: %s %s", self.stream_id, self.full, condition, text)
        channel = self.channel
        channel.write(channel.framing.error(condition, text))
        channel.write(channel.framing.close)
        channel.close()
        self._hibernate()

    # -- output --------------------------------------------------------------------------

    def deliver(self, stanza: Element) -> None:
        if self.state is not StreamState.BOUND:
            self._deliver_unbound(stanza)
            return
        csi = self.csi
        if csi is not None and csi.hold(stanza):
            return
        channel = self.channel
        channel.write(channel.framing.stanza(stanza))
        state = self.sm
        if state is not None:
            self._sent(state, stanza)
        if channel.write_buffer_size() > MAX_WRITE_BUFFER and self.state is StreamState.BOUND:
            log.warning("stream %s: client does not read; closing", self.stream_id)
            self.drop(StreamErrorCondition.RESOURCE_CONSTRAINT, "client is not reading")

    def _deliver_unbound(self, stanza: Element) -> None:
        state = self.state
        if state is StreamState.HIBERNATING:
            self._queue_while_hibernating(stanza)
        elif state is StreamState.CLOSED:
            if self._draining:  # stored or bounced after what was there before
                assert self.sm is not None
                self.sm.unacked.append(stanza)
        else:  # replies during negotiation (binding)
            self.channel.write(self.channel.framing.stanza(stanza))

    # -- ending --------------------------------------------------------------------------

    def _auth_timed_out(self) -> None:
        self._timer = None
        if self.state is not StreamState.BOUND:
            self.close(StreamErrorCondition.CONNECTION_TIMEOUT, "authentication took too long")

    def close(
        self, condition: StreamErrorCondition | None = None, text: str = "", extra: bytes = b""
    ) -> None:
        """Send the stream error (if any; ``extra``: an application-specific condition) and the
        closing tag, then close the transport; the session ends (a hibernating one too)."""
        if self.state is StreamState.CLOSED:
            return
        if self.state is StreamState.HIBERNATING:
            self.state = StreamState.CLOSED  # no connection to write to
            self._end()
            return
        if not self._header_sent:
            # the peer waits for our header of this document before it can read anything
            self.stream_id = self.stream_id or secrets.token_hex(8)
            self._write_header()
        if condition is not None:
            log.info("stream %s: closing with %s %s", self.stream_id, condition, text)
            error = self.channel.framing.error(condition, text)
            if extra:
                error = error.replace(b"</stream:error>", extra + b"</stream:error>")
            self.channel.write(error)
        self.channel.write(self.channel.framing.close)
        self.abort()

    def abort(self) -> None:
        """Close the transport without writing anything more; the session ends."""
        state = self.state
        if state is not StreamState.CLOSED:
            self.state = StreamState.CLOSED
            if state is not StreamState.HIBERNATING:
                self.channel.close()
            self._end()

    def connection_lost(self) -> None:
        """The transport is gone: a resumable session hibernates, any other one ends."""
        self._connected = False
        self.server.connections.discard(self)
        if self.state is StreamState.BOUND and self._resumable():
            self._hibernate()
            return
        if self.state is StreamState.HIBERNATING:
            return  # the connection `drop` closed is gone now
        self.state = StreamState.CLOSED
        self._clear_queue()
        self._end()

    def _end(self) -> None:
        """The session is over (once, however it ended): its resumption id is forgotten, what
        it never acknowledged is stored or bounced, then it leaves the registry and the modules
        are told (`SessionClosed`)."""
        if self.closed:
            return
        self.closed = True
        self.parser.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._cancel_ack_timer()
        state = self.sm
        if state is not None and state.id is not None:
            self.server.resumption.forget(state.id, self.bare, state.handled)
        if self.jid is None:
            return
        if state is not None and state.unacked:
            self._draining = True
            self.server.tasks.spawn(self._undelivered(state), name=f"undelivered-{self.full}")
        else:
            self._leave()

    async def _undelivered(self, state: SmState) -> None:
        """Store or bounce, in order, what the client never acknowledged, and what is delivered
        meanwhile (the session is still registered, so nothing overtakes it); then leave."""
        assert self.jid is not None
        unacked = state.unacked
        try:
            while unacked:
                stanza = unacked.popleft()
                try:
                    await undeliverable(self.server, self.jid, stanza)
                except Exception:
                    log.exception("stream %s: an undelivered stanza was lost", self.stream_id)
        finally:
            self._draining = False
            self._leave()

    def _leave(self) -> None:
        if self.server.registry.remove(self):
            self.server.tasks.spawn(
                self.server.hooks.fire(SessionClosed(self)), name=f"closed-{self.full}"
            )
