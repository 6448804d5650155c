"""A JSON client (SPEC §5) as a session like any other: the resource ``user@domain/json-<id>``.

It speaks to the core only in stanzas: its commands become JMI messages and Jingle iqs routed
like any client's, and what reaches it (`deliver`) becomes JSON messages (bridge/events.py).
The call process, ring timeout, carbons and MAM therefore work for it with no extra code.

The first ``sdp_offer``/``sdp_answer`` of a call are session-initiate/session-accept; later ones
renegotiate (``content-*``, an ICE restart): `renegotiation.Negotiation` keeps the call's
descriptions and says what to send each way, this class only carries it out.

Lifecycle: ``auth`` (a JWT access token) within `AUTH_TIMEOUT` seconds, else close 4001; then
bound, available presence sent (native contacts see it), commands until the socket closes.
A bad message gets an error and the connection stays usable; a flood is refused with
``rate_limited`` and, when it goes on, closed with 4008.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Final, Protocol
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.auth.rate_limit import RateLimiter
from xmpp_video.auth.tokens import TokenError, TokenKind
from xmpp_video.bridge import events, renegotiation, sdp
from xmpp_video.bridge.protocol import (
    Auth,
    CallAccept,
    CallEnd,
    CallInitiate,
    CallReject,
    CallType,
    Command,
    ErrorCode,
    IceCandidate,
    Ping,
    ProtocolError,
    SdpAnswer,
    SdpOffer,
    encode,
    error,
    parse,
)
from xmpp_video.bridge.renegotiation import (
    JINGLE_ERRORS,
    Negotiation,
    Refusal,
    Refused,
    Step,
    Tell,
)
from xmpp_video.calls.signals import SignalKind
from xmpp_video.core.events import SessionBound, SessionClosed
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import IQ, MESSAGE, PRESENCE, iq_result
from xmpp_video.stanza.conditions import StanzaErrorCondition, StreamErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply

log = logging.getLogger(__name__)

AUTH_TIMEOUT: Final = 10.0
CLOSE_UNAUTHORIZED: Final = 4001
CLOSE_POLICY: Final = 4008
CLOSE_GOING_AWAY: Final = 1001
ABUSE_FACTOR: Final = 3  # refused messages within a second, as a multiple of the rate: close
_JMI: Final = "{" + ns.JMI + "}"
_JINGLE: Final = "{" + ns.JINGLE + "}jingle"
_DELAY: Final = "{" + ns.DELAY + "}delay"


class JsonChannel(Protocol):
    """What the session needs from its WebSocket."""

    peer: str

    def send_text(self, text: str) -> None: ...
    def close(self, code: int, reason: str = "") -> None: ...


@dataclass(slots=True)
class BridgeCall:
    """A call this device takes part in. ``peer``: the other party's device once known (the
    caller's device for an incoming call; the answering device for an outgoing one), else its
    bare JID."""

    call_id: str
    peer: str
    outgoing: bool
    call_type: CallType
    answered: bool = False  # proceed sent (incoming) or received (outgoing)
    ringing_told: bool = False
    offered: bool = False  # session-initiate sent or received
    mids: tuple[str, ...] = ()  # content names in m-line order (for candidate indexes)
    pending_iqs: set[str] = field(default_factory=set)
    negotiation: Negotiation | None = None  # the descriptions, once a session-initiate went
    timed: int = 0  # the last renegotiation attempt given a timeout

    def current_mids(self) -> tuple[str, ...]:
        found = () if self.negotiation is None else self.negotiation.mids()
        return found or self.mids


class JsonSession(Session):
    transport_name = "json"

    def __init__(self, server: Server, channel: JsonChannel) -> None:
        super().__init__()
        self.server = server
        self.channel = channel
        settings = server.settings
        self.max_message = settings.max_json_message
        rate = settings.json_messages_per_second
        self.limiter = RateLimiter(rate, 1.0)
        self.abuse = RateLimiter(rate * ABUSE_FACTOR, 1.0)
        self.calls: dict[str, BridgeCall] = {}
        self.user = ""
        self.state = "auth"  # auth → ready → closed
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            AUTH_TIMEOUT, self._auth_timed_out
        )
        server.connections.add(self)

    # -- from the client -------------------------------------------------------------------

    def text_received(self, text: str) -> None:
        if self.state == "closed":
            return
        if len(text) > self.max_message or len(text.encode()) > self.max_message:
            self._send(
                error(ErrorCode.TOO_LARGE, f"messages are limited to {self.max_message} bytes")
            )
            return
        if self.limiter.hit("messages") is not None:
            if self.abuse.hit("messages") is not None:
                self._close(CLOSE_POLICY, "too many messages")
                return
            self._send(error(ErrorCode.RATE_LIMITED, "too many messages; slow down"))
            return
        try:
            command, ref = parse(text)
        except ProtocolError as exc:
            if self.state == "auth":
                self._refuse_unauthenticated(exc.ref)
                return
            self._send(error(exc.code, exc.message, exc.ref))
            return
        if self.state == "auth":
            if not isinstance(command, Auth):
                self._refuse_unauthenticated(ref)
                return
            self._spawn(self._auth(command, ref))
            return
        try:
            self._command(command, ref)
        except ProtocolError as exc:
            self._send(error(exc.code, exc.message, exc.ref if exc.ref is not None else ref))

    def _refuse_unauthenticated(self, ref: object) -> None:
        self._send(error(ErrorCode.NOT_AUTHENTICATED, "send auth with a token first", ref))
        self._close(CLOSE_UNAUTHORIZED, "not authenticated")

    async def _auth(self, command: Auth, ref: object) -> None:
        self.state = "authenticating"
        tokens = self.server.tokens
        assert tokens is not None
        try:
            username = tokens.verify(command.token, TokenKind.ACCESS).sub
        except TokenError as exc:
            self._send(encode("auth_error", ref, code=str(exc.code), message=str(exc)))
            self._close(CLOSE_UNAUTHORIZED, "authentication failed")
            return
        if not await self.server.accounts.exists(username):
            self._send(encode("auth_error", ref, code="invalid_token", message="no such account"))
            self._close(CLOSE_UNAUTHORIZED, "authentication failed")
            return
        if self.state == "closed":
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.user = username
        self.bind(JID(username, self.server.domain, f"json-{secrets.token_hex(6)}"))
        self.server.registry.add(self)
        self.state = "ready"
        await self.server.hooks.fire(SessionBound(self))
        self._send(encode("auth_ok", ref, user=username, jid=self.bare))
        self._route(Element(PRESENCE))  # available: native contacts see this device
        log.info("json session bound %s from %s", self.full, self.channel.peer)

    def _auth_timed_out(self) -> None:
        self._timer = None
        if self.state in ("auth", "authenticating"):
            self._send(error(ErrorCode.NOT_AUTHENTICATED, f"no auth within {AUTH_TIMEOUT:g} s"))
            self._close(CLOSE_UNAUTHORIZED, "authentication timeout")

    # -- commands --------------------------------------------------------------------------

    def _command(self, command: Command, ref: object) -> None:
        if isinstance(command, Ping):
            self._send(encode("pong", ref))
        elif isinstance(command, Auth):
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "already authenticated", ref)
        elif isinstance(command, CallInitiate):
            self._spawn(self._initiate(command, ref))
        elif isinstance(command, CallAccept):
            self._accept(self._call(command.call_id, ref), ref)
        elif isinstance(command, CallReject):
            self._reject(self._call(command.call_id, ref), command.reason, ref)
        elif isinstance(command, CallEnd):
            self._end(self._call(command.call_id, ref))
        elif isinstance(command, SdpOffer):
            self._offer(self._call(command.call_id, ref), command.sdp, ref)
        elif isinstance(command, SdpAnswer):
            self._answer(self._call(command.call_id, ref), command.sdp, ref)
        else:
            self._candidate(self._call(command.call_id, ref), command, ref)

    def _call(self, call_id: str, ref: object) -> BridgeCall:
        call = self.calls.get(call_id)
        if call is None:  # unknown, or another user's: the same answer, nothing leaks
            raise ProtocolError(ErrorCode.UNKNOWN_CALL, "no such call on this device", ref)
        return call

    async def _initiate(self, command: CallInitiate, ref: object) -> None:
        try:
            callee = JID.parse(
                command.to if "@" in command.to else f"{command.to}@{self.server.domain}"
            )
        except InvalidJID:
            self._send(error(ErrorCode.BAD_REQUEST, "'to' is not a user", ref))
            return
        callee = callee.bare
        if callee.local is None:
            self._send(error(ErrorCode.BAD_REQUEST, "'to' is not a user", ref))
            return
        if str(callee) == self.bare:
            self._send(error(ErrorCode.NOT_ALLOWED, "you cannot call yourself", ref))
            return
        if callee.domain != self.server.domain or not await self.server.accounts.exists(
            str(callee.local)
        ):
            self._send(error(ErrorCode.USER_UNAVAILABLE, f"{callee} is not a user here", ref))
            return
        if self.state != "ready":
            return
        call_id = secrets.token_hex(8)
        call = BridgeCall(call_id, str(callee), outgoing=True, call_type=command.call_type)
        self.calls[call_id] = call
        propose = _jmi(SignalKind.PROPOSE, call_id)
        for media in ("audio", "video") if command.call_type is CallType.VIDEO else ("audio",):
            SubElement(propose, f"{{{ns.JINGLE_RTP}}}description", {"media": media})
        self._send(encode("call_initiated", ref, call_id=call_id))
        self._send_message(str(callee), propose, store=True)

    def _accept(self, call: BridgeCall, ref: object) -> None:
        if call.outgoing or call.answered:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "this call cannot be accepted here", ref)
        call.answered = True
        self._send_message(self.bare, _jmi(SignalKind.ACCEPT, call.call_id), store=True)
        self._send_message(call.peer, _jmi(SignalKind.PROCEED, call.call_id), store=True)

    def _reject(self, call: BridgeCall, reason: str, ref: object) -> None:
        if call.outgoing or call.answered:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "only a ringing call can be rejected", ref)
        del self.calls[call.call_id]
        for to in (call.peer, self.bare):
            self._send_message(to, _jmi(SignalKind.REJECT, call.call_id, reason), store=True)

    def _end(self, call: BridgeCall) -> None:
        del self.calls[call.call_id]
        if call.offered:
            self._send_jingle(call, "session-terminate", _terminate(call.call_id))
            return
        if call.outgoing and not call.answered:
            self._send_message(
                call.peer, _jmi(SignalKind.RETRACT, call.call_id, "cancel"), store=True
            )
        elif not call.outgoing and not call.answered:
            for to in (call.peer, self.bare):
                self._send_message(to, _jmi(SignalKind.REJECT, call.call_id, "decline"), store=True)
        else:
            self._send_message(
                call.peer, _jmi(SignalKind.FINISH, call.call_id, "success"), store=True
            )

    def _offer(self, call: BridgeCall, offer: str, ref: object) -> None:
        if call.offered:
            self._renegotiate(call, offer, ref)
            return
        if not call.answered or not call.outgoing:
            raise ProtocolError(
                ErrorCode.NOT_ALLOWED, "send the offer once the call is accepted", ref
            )
        try:
            jingle = sdp.sdp_to_jingle(
                offer,
                action="session-initiate",
                sid=call.call_id,
                initiator=self.full,
                responder=call.peer,
            )
        except sdp.SdpError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid SDP: {exc}", ref) from None
        call.offered = True
        call.mids = _mids(jingle)
        call.negotiation = Negotiation(call.call_id, sdp.Role.INITIATOR)
        call.negotiation.first_local(offer)
        self._send_jingle(call, "session-initiate", jingle)

    def _renegotiate(self, call: BridgeCall, offer: str, ref: object) -> None:
        """A new offer in the established session (bridge/renegotiation.py)."""
        negotiation = call.negotiation
        if negotiation is None:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "wait for the answer first", ref)
        try:
            step = negotiation.client_offer(offer, ref)
        except Refused as exc:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, str(exc), ref) from None
        except sdp.SdpError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid SDP: {exc}", ref) from None
        self._run(call, step)

    def _run(self, call: BridgeCall, step: Step) -> None:
        """Carry out a renegotiation step: the Jingle iqs, then the JSON messages; a
        renegotiation it starts is given `renegotiation.ANSWER_TIMEOUT` to be answered."""
        negotiation = call.negotiation
        if negotiation is not None and negotiation.busy and negotiation.attempt != call.timed:
            call.timed = attempt = negotiation.attempt
            asyncio.get_running_loop().call_later(
                renegotiation.ANSWER_TIMEOUT, self._renegotiation_expired, call, attempt
            )
        for outbound in step.send:
            self._send_jingle(call, outbound.action, outbound.jingle, tracked=outbound.tracked)
        for message in step.tell:
            if message.type is Tell.ERROR:
                self._send(error(ErrorCode.NOT_ALLOWED, message.message, message.ref))
            else:
                self._send(encode(message.type, call_id=call.call_id, sdp=message.sdp))

    def _renegotiation_expired(self, call: BridgeCall, attempt: int) -> None:
        negotiation = call.negotiation
        if self.state == "closed" or self.calls.get(call.call_id) is not call or not negotiation:
            return
        self._run(call, negotiation.give_up(attempt))

    def _answer(self, call: BridgeCall, answer: str, ref: object) -> None:
        negotiation = call.negotiation
        if negotiation is not None and negotiation.answer_expected:
            try:
                step = negotiation.client_answer(answer)
            except Refused as exc:
                raise ProtocolError(ErrorCode.NOT_ALLOWED, str(exc), ref) from None
            except sdp.SdpError as exc:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid SDP: {exc}", ref) from None
            self._run(call, step)
            return
        if (
            call.outgoing
            or not call.offered
            or negotiation is None
            or negotiation.local is not None
        ):
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "there is no offer to answer", ref)
        try:
            jingle = sdp.sdp_to_jingle(
                answer,
                action="session-accept",
                sid=call.call_id,
                initiator=call.peer,
                responder=self.full,
            )
        except sdp.SdpError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid SDP: {exc}", ref) from None
        negotiation.first_local(answer)
        self._send_jingle(call, "session-accept", jingle)

    def _candidate(self, call: BridgeCall, command: IceCandidate, ref: object) -> None:
        if not call.offered:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "no session yet for this call", ref)
        candidate = command.candidate
        if candidate is None:
            return  # end of candidates: nothing to tell in Jingle (XEP-0176 has no marker)
        try:
            content, transport = sdp.candidate_to_jingle(
                candidate.candidate,
                candidate.sdp_mid,
                candidate.sdp_mline_index,
                mids=call.current_mids(),
            )
            if call.negotiation is not None:
                # COMPAT(Conversations): every transport-info names the current credentials
                # (an unknown pair reads as an ICE restart there)
                ufrag, pwd = call.negotiation.local_credentials(content)
                if ufrag and pwd:
                    transport.set("ufrag", ufrag)
                    transport.set("pwd", pwd)
            jingle = sdp.transport_info(sid=call.call_id, content=content, transport=transport)
        except sdp.SdpError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid candidate: {exc}", ref) from None
        self._send_jingle(call, "transport-info", jingle)

    # -- to the core -----------------------------------------------------------------------

    def _route(self, stanza: Element) -> None:
        assert self.jid is not None
        stanza.set("from", self.full)
        pending = self.server.router.route(stanza, self.jid, self)
        if pending is not None:
            self._spawn(_wait(pending))

    def _send_message(self, to: str, payload: Element, *, store: bool) -> None:
        message = Element(MESSAGE, {"type": "chat", "to": to, "id": secrets.token_hex(6)})
        message.append(payload)
        if store:
            SubElement(message, f"{{{ns.HINTS}}}store")
        self._route(message)

    def _send_jingle(
        self, call: BridgeCall, action: str, jingle: Element, *, tracked: bool = False
    ) -> None:
        """``tracked``: the negotiation learns the iq id (before routing: a local peer may
        answer at once)."""
        iq_id = f"{action}-{secrets.token_hex(4)}"
        iq = Element(IQ, {"type": "set", "to": call.peer, "id": iq_id})
        iq.append(jingle)
        call.pending_iqs.add(iq_id)
        if tracked and call.negotiation is not None:
            call.negotiation.track(iq_id)
        self._route(iq)

    # -- from the core ---------------------------------------------------------------------

    def deliver(self, stanza: Element) -> None:
        if self.state == "closed":
            return
        try:
            if stanza.tag == MESSAGE:
                self._message(stanza)
            elif stanza.tag == IQ:
                self._iq(stanza)
        except Exception:
            log.exception("json session %s: cannot translate a stanza", self.full)

    def _message(self, stanza: Element) -> None:
        if stanza.get("type") == "error" or stanza.find(_DELAY) is not None:
            return  # bounces, and stored replays: never live calls
        sender = stanza.get("from", "")
        for child in stanza:
            if child.tag.startswith(_JMI):
                self._jmi(child.tag[len(_JMI) :], child, sender)
                return

    def _jmi(self, kind: str, element: Element, sender: str) -> None:
        call_id = element.get("id", "")
        reason, text = _reason(element)
        own = sender.split("/", 1)[0] == self.bare
        call = self.calls.get(call_id)
        if kind == "propose":
            if own or call is not None or not call_id:
                return
            media = {d.get("media") for d in element.iter(f"{{{ns.JINGLE_RTP}}}description")}
            call_type = CallType.VIDEO if "video" in media else CallType.AUDIO
            self.calls[call_id] = BridgeCall(call_id, sender, outgoing=False, call_type=call_type)
            self._send(
                encode(
                    "call_incoming",
                    call_id=call_id,
                    call_type=call_type.value,
                    **{"from": sender.split("/", 1)[0]},
                )
            )
            # after the propose's delivery is over, so that the call process (created by the
            # router's observers once every device has it) sees this device ring
            asyncio.get_running_loop().call_soon(self._ring, sender, call_id)
            return
        if call is None:
            return
        if own:  # another device of this user
            if kind == "accept" and not call.answered:
                self._ended(call, "answered_elsewhere")
            elif kind == "reject":
                self._ended(call, "rejected_elsewhere")
            return
        if kind == "ringing" and call.outgoing and not call.ringing_told:
            call.ringing_told = True
            self._send(encode("call_ringing", call_id=call_id))
        elif kind == "proceed" and call.outgoing and not call.answered:
            call.answered = True
            call.peer = sender
            self._send(encode("call_accepted", call_id=call_id, by=sender.split("/", 1)[0]))
        elif kind == "reject" and call.outgoing:
            type_, why = events.reject_event(reason, text=text)
            del self.calls[call_id]
            self._send(encode(type_, call_id=call_id, reason=why))
        elif kind == "retract" and not call.outgoing:
            self._ended(call, events.retract_reason(reason, text=text))
        elif kind == "finish":
            self._ended(call, events.ended_reason(reason, text=text))

    def _ring(self, caller: str, call_id: str) -> None:
        if self.state == "ready" and call_id in self.calls:
            self._send_message(caller, _jmi(SignalKind.RINGING, call_id), store=False)

    def _ended(self, call: BridgeCall, reason: str) -> None:
        self.calls.pop(call.call_id, None)
        self._send(encode("call_ended", call_id=call.call_id, reason=reason))

    def _iq(self, stanza: Element) -> None:
        type_ = stanza.get("type")
        if type_ in ("result", "error"):
            self._iq_answer(stanza, type_)
            return
        jingle = stanza.find(_JINGLE)
        call = None if jingle is None else self.calls.get(jingle.get("sid", ""))
        if jingle is None or call is None or type_ != "set":
            condition = (
                StanzaErrorCondition.ITEM_NOT_FOUND
                if jingle is not None
                else StanzaErrorCondition.SERVICE_UNAVAILABLE
            )
            self._route(error_reply(stanza, StanzaError(condition)))
            return
        action = jingle.get("action", "")
        try:
            step = self._jingle(call, action, jingle)
        except sdp.SdpError as exc:
            log.info("json session %s: unusable %s: %s", self.full, action, exc)
            self._route(
                error_reply(stanza, StanzaError(StanzaErrorCondition.BAD_REQUEST, str(exc)))
            )
            return
        except Refusal as exc:
            log.info("json session %s: refused %s: %s", self.full, action, exc.text)
            specific = None if exc.specific is None else f"{{{JINGLE_ERRORS}}}{exc.specific}"
            refusal = StanzaError(StanzaErrorCondition(exc.condition), exc.text, specific=specific)
            self._route(error_reply(stanza, refusal))
            return
        self._route(iq_result(stanza))
        if step is not None:
            self._run(call, step)

    def _jingle(self, call: BridgeCall, action: str, jingle: Element) -> Step | None:
        """Translate the other party's Jingle; a renegotiation step is returned, to run once
        the iq is acknowledged."""
        negotiation = call.negotiation
        if action == "session-initiate" and not call.outgoing and negotiation is None:
            offer = sdp.jingle_to_sdp(jingle)
            negotiation = Negotiation(call.call_id, sdp.Role.RESPONDER)
            negotiation.first_remote(jingle)
            call.negotiation = negotiation
            call.offered = True
            call.mids = _mids(jingle)
            self._send(encode("sdp_offer", call_id=call.call_id, sdp=offer))
        elif action == "session-accept" and call.outgoing:
            answer = sdp.jingle_to_sdp(jingle)
            if negotiation is not None and negotiation.remote is None:
                negotiation.first_remote(jingle)
            self._send(encode("sdp_answer", call_id=call.call_id, sdp=answer))
        elif action == "session-terminate":
            reason, text = _reason(jingle)
            self._ended(call, events.ended_reason(reason, text=text))
        elif negotiation is not None and negotiation.started:
            step = negotiation.peer_action(action, jingle)
            if step is not None:
                return step
            if action == "transport-info":
                self._candidates(call, jingle)
        elif action == "transport-info":
            self._candidates(call, jingle)
        elif action in _RENEGOTIATION:
            raise Refusal("unexpected-request", "out-of-order", "the session is not set up yet")
        return None

    def _candidates(self, call: BridgeCall, jingle: Element) -> None:
        for candidate in sdp.jingle_candidates(jingle, mids=call.current_mids()):
            self._send(encode("ice_candidate", call_id=call.call_id, candidate=candidate.as_json()))

    def _iq_answer(self, stanza: Element, type_: str | None) -> None:
        iq_id = stanza.get("id", "")
        for call in list(self.calls.values()):
            if iq_id in call.pending_iqs:
                call.pending_iqs.discard(iq_id)
                if type_ == "error" and iq_id.startswith(("session-initiate", "session-accept")):
                    self._ended(call, "failed")
                negotiation = call.negotiation
                if negotiation is not None and negotiation.is_tracked(iq_id):
                    if type_ == "error":
                        step = negotiation.failed(iq_id, _error_condition(stanza))
                    else:
                        step = negotiation.acked(iq_id)
                    self._run(call, step)
                return

    # -- output and ending -----------------------------------------------------------------

    def _send(self, text: str) -> None:
        if self.state != "closed":
            self.channel.send_text(text)

    def _spawn(self, job: Awaitable[None]) -> None:
        self.server.tasks.spawn(_wait(job), name=f"json-{self.full or self.channel.peer}")

    def _close(self, code: int, reason: str) -> None:
        if self.state == "closed":
            return
        self.state = "closed"
        self.channel.close(code, reason)

    def close(self, condition: StreamErrorCondition | None = None, text: str = "") -> None:
        """The server ends the session (shutdown, admin): tell the client first."""
        if condition is StreamErrorCondition.SYSTEM_SHUTDOWN:
            self._send(encode("server_shutdown"))
        self._close(CLOSE_GOING_AWAY, text or "closing")

    def connection_lost(self) -> None:
        self.state = "closed"
        self.server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.closed:
            return
        self.closed = True
        if self.jid is not None and self.server.registry.remove(self):
            self.server.tasks.spawn(
                self.server.hooks.fire(SessionClosed(self)), name=f"closed-{self.full}"
            )


def _jmi(kind: SignalKind, call_id: str, reason: str | None = None) -> Element:
    element = Element(f"{_JMI}{kind.value}", {"id": call_id})
    if reason is not None:
        why = SubElement(element, f"{{{ns.JINGLE}}}reason")
        SubElement(why, f"{{{ns.JINGLE}}}{reason}")
    return element


_RENEGOTIATION: Final = frozenset(
    {
        "content-accept",
        "content-add",
        "content-modify",
        "content-reject",
        "content-remove",
        "transport-accept",
        "transport-replace",
    }
)


def _error_condition(stanza: Element) -> str:
    """The Jingle-specific condition of an iq error (``tie-break``…), else the defined one."""
    found = "error"
    for child in stanza.iterfind("{jabber:client}error/*"):
        namespace, _, local = child.tag[1:].partition("}")
        if namespace == JINGLE_ERRORS:
            return local
        if namespace == ns.STANZAS_ERRORS and local != "text" and found == "error":
            found = local
    return found


def _mids(jingle: Element) -> tuple[str, ...]:
    return tuple(c.get("name", "") for c in jingle.findall(f"{{{ns.JINGLE}}}content"))


def _terminate(call_id: str) -> Element:
    jingle = Element(_JINGLE, {"action": "session-terminate", "sid": call_id})
    why = SubElement(jingle, f"{{{ns.JINGLE}}}reason")
    SubElement(why, f"{{{ns.JINGLE}}}success")
    return jingle


def _reason(element: Element) -> tuple[str | None, str]:
    why = element.find(f"{{{ns.JINGLE}}}reason")
    if why is None:
        return None, ""
    condition = None
    text = ""
    for child in why:
        local = child.tag.rsplit("}", 1)[-1]
        if local == "text":
            text = child.text or ""
        elif condition is None:
            condition = local
    return condition, text


async def _wait(job: Awaitable[None]) -> None:
    await job
