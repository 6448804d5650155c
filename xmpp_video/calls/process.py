"""The owner of one call: feeds its state machine, and carries out the effects.

Effects: the record is written behind (one writer task per call at a time, always the latest
state, so that routing never waits for the database), the timer is one `TimerHandle`, and the
JMI messages the server sends on its own go through the router like any client's (so offline
storage, carbons and the archive apply to them too).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.calls.machine import (
    Call,
    CallState,
    EndReason,
    Event,
    Notify,
    Persist,
    RingTimeout,
    SetTimer,
)
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import MESSAGE
from xmpp_video.storage.repositories import CallRecord

log = logging.getLogger(__name__)

Send = Callable[[Element, str], None]  # route a stanza the server writes, from that JID
Save = Callable[[CallRecord], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, None], str], object]  # keep and supervise a task
Dispatch = Callable[["CallProcess", Event], None]  # the supervisor's way in


def _utc(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.UTC)


def to_record(call: Call, node_id: str) -> CallRecord:
    proposed_at = _utc(call.proposed_at)
    assert proposed_at is not None
    return CallRecord(
        call_id=call.call_id,
        caller=call.caller,
        caller_device=call.caller_device,
        callee=call.callee,
        media=tuple(sorted(call.media)),
        state=call.state.value,
        node_id=node_id,
        proposed_at=proposed_at,
        devices=tuple(call.devices),
        answered_by=call.answered_by,
        ringing_at=_utc(call.ringing_at),
        answered_at=_utc(call.answered_at),
        active_at=_utc(call.active_at),
        ended_at=_utc(call.ended_at),
        end_reason=None if call.end_reason is None else call.end_reason.value,
        ended_by=call.ended_by,
    )


def _ts(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def from_record(record: CallRecord, ring_timeout: float) -> Call:
    return Call(
        call_id=record.call_id,
        caller=record.caller,
        caller_device=record.caller_device,
        callee=record.callee,
        media=frozenset(record.media),
        proposed_at=record.proposed_at.timestamp(),
        ring_timeout=ring_timeout,
        state=CallState(record.state),
        devices=list(record.devices),
        answered_by=record.answered_by,
        ringing_at=_ts(record.ringing_at),
        answered_at=_ts(record.answered_at),
        active_at=_ts(record.active_at),
        ended_at=_ts(record.ended_at),
        end_reason=None if record.end_reason is None else EndReason(record.end_reason),
        ended_by=record.ended_by,
    )


def jmi_notice(call_id: str, notice: Notify) -> Element:
    """``<message type='chat'><KIND xmlns=JMI id=…><reason>…</reason></KIND><store/>``."""
    message = Element(
        MESSAGE, {"type": "chat", "to": notice.to, "id": f"xv-{secrets.token_hex(6)}"}
    )
    element = SubElement(message, f"{{{ns.JMI}}}{notice.kind.value}", {"id": call_id})
    reason = SubElement(element, f"{{{ns.JINGLE}}}reason")
    SubElement(reason, f"{{{ns.JINGLE}}}{notice.reason}")
    if notice.text:
        SubElement(reason, f"{{{ns.JINGLE}}}text").text = notice.text
    SubElement(message, f"{{{ns.HINTS}}}store")
    return message


class CallProcess:
    __slots__ = (
        "_dirty",
        "_timer",
        "_writing",
        "call",
        "dispatch",
        "node_id",
        "save",
        "send",
        "spawn",
    )

    def __init__(
        self,
        call: Call,
        node_id: str,
        *,
        send: Send,
        save: Save,
        spawn: Spawn,
        dispatch: Dispatch,
    ) -> None:
        """``dispatch``: how timer expiries come back in (through the supervisor)."""
        self.call = call
        self.dispatch = dispatch
        self.node_id = node_id
        self.send = send
        self.save = save
        self.spawn = spawn
        self._timer: asyncio.TimerHandle | None = None
        self._dirty = False
        self._writing = False

    def handle(self, event: Event, now: float | None = None) -> None:
        """Apply one event (may raise: the manager supervises)."""
        self.run(self.call.apply(event, time.time() if now is None else now))

    def run(self, effects: list[Persist | SetTimer | Notify]) -> None:
        for effect in effects:
            if isinstance(effect, Persist):
                self.persist()
            elif isinstance(effect, SetTimer):
                self.arm(effect.seconds)
            else:
                self.send(jmi_notice(self.call.call_id, effect), effect.from_)

    def arm(self, seconds: float | None, event: Event | None = None) -> None:
        """(Re)arm the timer: after ``seconds``, ``event`` (a RingTimeout by default) comes in
        through the supervisor. None cancels it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(
                max(0.0, seconds), self._expired, event or RingTimeout()
            )

    def _expired(self, event: Event) -> None:
        self._timer = None
        self.dispatch(self, event)

    # -- persistence -----------------------------------------------------------------------

    def persist(self) -> None:
        self._dirty = True
        if not self._writing:
            self._writing = True
            self.spawn(self._write(), f"call-{self.call.call_id}")

    async def _write(self) -> None:
        try:
            while self._dirty:
                self._dirty = False
                try:
                    await self.save(to_record(self.call, self.node_id))
                except Exception:
                    log.exception("call %s: cannot save its record", self.call.call_id)
                    return
        finally:
            self._writing = False

    @property
    def writing(self) -> bool:
        return self._writing

    def cancel_timer(self) -> None:
        self.arm(None)
