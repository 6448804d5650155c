"""The calls module: follows routed JMI/Jingle traffic, one supervised `CallProcess` per call.

Supervision: every event reaches a process through `_dispatch`; an exception there is logged,
that call alone ends as ``failed`` (recorded), and nothing else notices. After a restart,
`start()` rebuilds the calls this node was following from ``call_session``: those still within
their timeout go on, stale ones are ended (a missed-call notice is stored for the callee), and
an active call is ended as ``failed`` if neither party is back after one ring timeout.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from xmpp_video.calls.machine import (
    Call,
    CallerGone,
    CallState,
    EndReason,
    Event,
    NoDevice,
    RingTimeout,
    Terminate,
)
from xmpp_video.calls.process import CallProcess, from_record
from xmpp_video.calls.signals import Signal, SignalKind, from_iq, from_message
from xmpp_video.core.events import SessionClosed
from xmpp_video.core.router import Routed
from xmpp_video.core.server import Server
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.stanza.builders import IQ, MESSAGE

log = logging.getLogger(__name__)
# The timer event of a rebuilt active call, told apart by identity: check whether it is stale.
_STALE_CHECK = RingTimeout()
SETUP_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 45.0, 120.0)


@dataclass(slots=True)
class Histogram:
    """Cumulative bucket counts, for Prometheus (read by http/metrics.py)."""

    buckets: tuple[float, ...] = SETUP_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(SETUP_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.total += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.counts[-1] += 1  # +Inf


@dataclass(slots=True)
class CallStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    answer_time: Histogram = field(default_factory=Histogram)  # propose → proceed
    session_time: Histogram = field(default_factory=Histogram)  # proceed → session-accept


class CallManager:
    name = "calls"

    def __init__(self) -> None:
        self.processes: dict[str, CallProcess] = {}
        self.stats = CallStats()
        self._server: Server | None = None

    @property
    def server(self) -> Server:
        assert self._server is not None, "setup() first"
        return self._server

    # -- module --------------------------------------------------------------------------

    def setup(self, server: Server) -> None:
        self._server = server
        server.router.observers.append(self._observe)
        server.hooks.on(SessionClosed, self._session_closed)

    async def start(self) -> None:
        """Rebuild the live calls of this node from the database."""
        server = self.server
        now = time.time()
        for record in await server.storage.calls.live():
            if record.node_id != server.node_id or record.call_id in self.processes:
                continue
            call = from_record(record, float(server.settings.ring_timeout))
            process = self._process(call)
            self.processes[call.call_id] = process
            if call.state in (CallState.PROPOSED, CallState.RINGING):
                process.arm(call.proposed_at + call.ring_timeout - now)
            elif call.state is CallState.ACCEPTED:
                process.arm((call.answered_at or now) + call.ring_timeout - now)
            else:
                process.arm(call.ring_timeout, _STALE_CHECK)
        if self.processes:
            log.info("calls: %d rebuilt from the database", len(self.processes))

    async def shutdown(self) -> None:
        """End every live call as ``server_shutdown`` (SPEC §3), before the streams close."""
        for process in list(self.processes.values()):
            self._dispatch(process, Terminate(EndReason.SERVER_SHUTDOWN))

    def stop(self) -> None:
        for process in self.processes.values():
            process.cancel_timer()

    # -- what the router saw ---------------------------------------------------------------

    def _observe(self, routed: Routed) -> None:
        stanza = routed.stanza
        sender, to = str(routed.sender), str(routed.to)
        if stanza.tag == MESSAGE:
            signal = from_message(stanza, sender, to)
        elif stanza.tag == IQ:
            signal = from_iq(stanza, sender, to)
        else:
            return
        if signal is None:
            return
        if signal.kind is SignalKind.PROPOSE:
            self._proposed(signal, routed)
            return
        process = self.processes.get(signal.call_id)
        if process is not None:
            self._dispatch(process, signal)

    def _proposed(self, signal: Signal, routed: Routed) -> None:
        if routed.origin is None or signal.call_id in self.processes:
            return  # replayed from storage, or a repeat: not a new live call
        if routed.to.local is None or routed.to.bare == routed.sender.bare:
            return
        call, effects = Call.propose(signal, time.time(), float(self.server.settings.ring_timeout))
        process = self._process(call)
        self.processes[call.call_id] = process
        self._supervised(process, lambda: process.run(effects))
        if (
            not routed.recipients
            and call.call_id in self.processes
            and not self._wakeable(routed.to)
        ):
            self._dispatch(process, NoDevice())

    def _wakeable(self, callee: JID) -> bool:
        """Whether the callee has offline devices that push can wake: then the call rings on
        (its timeout, a retract or their answer ends it) instead of ending as unreachable."""
        waker = self.server.device_waker
        return waker is not None and bool(waker.has_registrations(str(callee.bare)))

    def _session_closed(self, event: SessionClosed) -> None:
        full = event.session.full
        for process in list(self.processes.values()):
            if process.call.caller_device == full:
                self._dispatch(process, CallerGone())

    # -- supervision -----------------------------------------------------------------------

    def _process(self, call: Call) -> CallProcess:
        server = self.server
        return CallProcess(
            call,
            server.node_id,
            send=self._send,
            save=server.storage.calls.save,
            spawn=server.tasks.spawn,
            dispatch=self._dispatch,
        )

    def _dispatch(self, process: CallProcess, event: Event) -> None:
        if event is _STALE_CHECK:
            self._supervised(process, lambda: self._check_stale(process))
            return
        self._supervised(process, lambda: process.handle(event))

    def _supervised(self, process: CallProcess, step: Callable[[], None]) -> None:
        call = process.call
        before = (call.answered_at, call.active_at)
        try:
            step()
        except Exception:
            log.exception("call %s failed; ending it", call.call_id)
            try:
                process.handle(Terminate(EndReason.FAILED))
            except Exception:
                log.exception("call %s: could not end it cleanly", call.call_id)
                call.state, call.end_reason, call.ended_at = (
                    CallState.ENDED,
                    EndReason.FAILED,
                    time.time(),
                )
                process.persist()
        self._account(call, before)
        if not call.live:
            process.cancel_timer()
            self.processes.pop(call.call_id, None)

    def _account(self, call: Call, before: tuple[float | None, float | None]) -> None:
        if call.answered_at is not None and before[0] is None:
            self.stats.answer_time.observe(call.answered_at - call.proposed_at)
        if call.active_at is not None and before[1] is None and call.answered_at is not None:
            self.stats.session_time.observe(call.active_at - call.answered_at)
        if not call.live and call.end_reason is not None:
            self.stats.outcomes[call.end_reason.value] += 1

    def _check_stale(self, process: CallProcess) -> None:
        """After a restart: an active call whose parties are both gone is over."""
        call = process.call
        registry = self.server.registry
        if registry.resources(call.caller) or registry.resources(call.callee):
            return
        process.handle(Terminate(EndReason.FAILED))

    # -- output ----------------------------------------------------------------------------

    def _send(self, stanza: Element, from_: str) -> None:
        try:
            sender = JID.parse(from_)
        except InvalidJID:
            log.warning("call notice from an invalid JID %r dropped", from_)
            return
        stanza.set("from", from_)
        pending = self.server.router.route(stanza, sender, None)
        if pending is not None:
            self.server.tasks.spawn(_wait(pending), name="call-notice")

    # -- for admin commands and metrics ------------------------------------------------------

    def live_calls(self) -> list[Call]:
        return [p.call for p in self.processes.values()]

    def terminate(self, call_id: str, by: str | None) -> bool:
        process = self.processes.get(call_id)
        if process is None:
            return False
        self._dispatch(process, Terminate(EndReason.TERMINATED_BY_ADMIN, by))
        return True


async def _wait(pending: Awaitable[None]) -> None:
    await pending
