"""The state machine of one call (SPEC §5, §6). Pure: no I/O, no clock of its own.

    proposed ──ringing──▶ ringing ──proceed──▶ accepted ──session-accept──▶ active
        │                    │                     │                          │
        └─────── reject / retract / terminate / timeout / admin / shutdown ───┴──▶ ended

`Call.apply(event, now)` takes a `Signal` (a JMI message or Jingle iq the router saw) or one of
the server's own events (`RingTimeout`, `NoDevice`, `CallerGone`, `Terminate`) and returns the
effects for the owner to carry out: persist the record, (re)arm or cancel the timer, and the JMI
messages the server sends on its own when the parties cannot (a ring timeout, an unreachable
callee, an admin ending the call). Signals from anyone but the two parties, and anything after
the end, change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from xmpp_video.calls.signals import Signal, SignalKind


class CallState(StrEnum):
    PROPOSED = "proposed"
    RINGING = "ringing"
    ACCEPTED = "accepted"
    ACTIVE = "active"
    ENDED = "ended"


class EndReason(StrEnum):
    """How a call ended, as recorded (and as JSON clients see it, SPEC §5)."""

    HANGUP = "hangup"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    DECLINED = "declined"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"
    TERMINATED_BY_ADMIN = "terminated_by_admin"
    SERVER_SHUTDOWN = "server_shutdown"


LIVE: Final = frozenset(
    {CallState.PROPOSED, CallState.RINGING, CallState.ACCEPTED, CallState.ACTIVE}
)
_FAILURES: Final = frozenset(
    {
        "connectivity-error",
        "failed-application",
        "failed-transport",
        "media-error",
        "general-error",
        "security-error",
        "incompatible-parameters",
        "unsupported-applications",
        "unsupported-transports",
    }
)


def end_reason(jingle_reason: str | None, state: CallState) -> EndReason:
    """The record's end reason for a Jingle/JMI reason condition seen in ``state``."""
    if jingle_reason in ("decline",):
        return EndReason.DECLINED
    if jingle_reason == "busy":
        return EndReason.BUSY
    if jingle_reason in ("timeout", "expired"):
        return EndReason.TIMEOUT
    if jingle_reason in _FAILURES:
        return EndReason.FAILED
    if jingle_reason == "cancel":
        return EndReason.CANCELLED
    # success, gone, alternative-session, none: a normal end
    return EndReason.HANGUP if state is CallState.ACTIVE else EndReason.CANCELLED


# -- the server's own events -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingTimeout:
    """The timer ran out (ringing too long, or accepted but no session set up)."""


@dataclass(frozen=True, slots=True)
class NoDevice:
    """The propose reached no available device of the callee."""


@dataclass(frozen=True, slots=True)
class CallerGone:
    """The caller's device left (disconnected) while the call was still ringing."""


@dataclass(frozen=True, slots=True)
class Terminate:
    """The server ends the call: an admin (``by`` = their JID), a shutdown, or a crash."""

    reason: EndReason
    by: str | None = None


Event = Signal | RingTimeout | NoDevice | CallerGone | Terminate


# -- effects -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Persist:
    """The record changed: write it."""


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Arm the call's timer for ``seconds`` (replacing any), or cancel it (None)."""

    seconds: float | None


@dataclass(frozen=True, slots=True)
class Notify:
    """Send a JMI ``kind`` element for this call, ``from_`` → ``to``, with a Jingle reason."""

    kind: SignalKind
    to: str
    from_: str
    reason: str
    text: str = ""


Effect = Persist | SetTimer | Notify


def _bare(jid: str) -> str:
    return jid.split("/", 1)[0]


@dataclass(slots=True)
class Call:
    """One call's record and state. JIDs: ``caller``/``callee`` bare, devices full."""

    call_id: str
    caller: str
    caller_device: str
    callee: str
    media: frozenset[str]
    proposed_at: float
    ring_timeout: float
    state: CallState = CallState.PROPOSED
    devices: list[str] = field(default_factory=list)  # callee devices that rang
    answered_by: str | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    active_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    ended_by: str | None = None

    @classmethod
    def propose(cls, signal: Signal, now: float, ring_timeout: float) -> tuple[Call, list[Effect]]:
        """A new call from a ``propose`` (its sender is the caller's device)."""
        assert signal.kind is SignalKind.PROPOSE
        call = cls(
            call_id=signal.call_id,
            caller=_bare(signal.sender),
            caller_device=signal.sender,
            callee=_bare(signal.to),
            media=signal.media or frozenset({"audio"}),
            proposed_at=now,
            ring_timeout=ring_timeout,
        )
        return call, [Persist(), SetTimer(ring_timeout)]

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def apply(self, event: Event, now: float) -> list[Effect]:
        if not self.live:
            return []
        if isinstance(event, Signal):
            return self._signal(event, now)
        if isinstance(event, RingTimeout):
            return self._timed_out(now)
        if isinstance(event, NoDevice):
            if self.state is not CallState.PROPOSED:
                return []
            return self._end(
                EndReason.UNAVAILABLE,
                now,
                None,
                self._tell_both("gone", "no device of the callee is online"),
            )
        if isinstance(event, CallerGone):
            if self.state not in (CallState.PROPOSED, CallState.RINGING):
                return []
            tell: list[Effect] = [
                Notify(SignalKind.RETRACT, self.callee, self.caller_device, "cancel")
            ]
            return self._end(EndReason.CANCELLED, now, self.caller_device, tell)
        return self._end(event.reason, now, event.by, self._tell_both("cancel", event.reason))

    # -- signals ---------------------------------------------------------------------------

    def _party(self, jid: str) -> str | None:
        bare = _bare(jid)
        if bare == self.caller:
            return "caller"
        if bare == self.callee:
            return "callee"
        return None

    def _signal(self, signal: Signal, now: float) -> list[Effect]:
        party = self._party(signal.sender)
        if party is None:
            return []
        kind, state = signal.kind, self.state
        if kind is SignalKind.RINGING and party == "callee":
            if signal.sender not in self.devices:
                self.devices.append(signal.sender)
            if state is CallState.PROPOSED:
                self.state = CallState.RINGING
                self.ringing_at = now
            return [Persist()]
        if kind is SignalKind.PROCEED and party == "callee":
            if state not in (CallState.PROPOSED, CallState.RINGING):
                return []
            self.state = CallState.ACCEPTED
            self.answered_by = signal.sender
            self.answered_at = now
            if signal.sender not in self.devices:
                self.devices.append(signal.sender)
            return [Persist(), SetTimer(self.ring_timeout)]  # the session must follow
        if kind is SignalKind.SESSION_ACCEPT and state is CallState.ACCEPTED:
            self.state = CallState.ACTIVE
            self.active_at = now
            return [Persist(), SetTimer(None)]
        if kind is SignalKind.REJECT:
            if party == "callee" and state in (CallState.PROPOSED, CallState.RINGING):
                reason = EndReason.BUSY if signal.reason == "busy" else EndReason.DECLINED
                return self._end(reason, now, signal.sender, [])
            return []
        if kind is SignalKind.RETRACT:
            if party == "caller" and state in (CallState.PROPOSED, CallState.RINGING):
                return self._end(EndReason.CANCELLED, now, signal.sender, [])
            return []
        if kind in (SignalKind.SESSION_TERMINATE, SignalKind.FINISH):
            return self._end(end_reason(signal.reason, state), now, signal.sender, [])
        return []  # accept copies, session-initiate, repeats: nothing to record

    # -- ends ------------------------------------------------------------------------------

    def _timed_out(self, now: float) -> list[Effect]:
        if self.state in (CallState.PROPOSED, CallState.RINGING):
            return self._end(EndReason.TIMEOUT, now, None, self._tell_both("timeout", ""))
        if self.state is CallState.ACCEPTED:
            text = "the call was answered but no session was set up"
            return self._end(EndReason.FAILED, now, None, self._tell_both("failed-transport", text))
        return []

    def _tell_both(self, reason: str, text: str) -> list[Effect]:
        """The messages that stop both sides: before an answer, a retract to every callee
        device (a missed-call record for those offline) and a reject to the caller; after,
        a finish to each party's device."""
        if self.state in (CallState.PROPOSED, CallState.RINGING):
            return [
                Notify(SignalKind.RETRACT, self.callee, self.caller_device, reason, text),
                Notify(SignalKind.REJECT, self.caller_device, self.callee, reason, text),
            ]
        answered = self.answered_by or self.callee
        return [
            Notify(SignalKind.FINISH, answered, self.caller_device, reason, text),
            Notify(SignalKind.FINISH, self.caller_device, answered, reason, text),
        ]

    def _end(
        self, reason: EndReason, now: float, by: str | None, notices: list[Effect]
    ) -> list[Effect]:
        self.state = CallState.ENDED
        self.end_reason = reason
        self.ended_at = now
        self.ended_by = by
        return [*notices, SetTimer(None), Persist()]
