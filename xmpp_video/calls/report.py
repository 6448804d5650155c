"""What administrators are told about calls: live calls and statistics over a period.  [pure]

One implementation for both ways in (the ad-hoc commands of modules/admin/calls.py and the HTTP
admin API of http/admin_api.py), so that both always say the same.

Statistics come from ``call_session`` rows proposed in ``[start, end)``:

- ``outcomes``: calls by end reason (every `EndReason`, zeros included), plus ``live`` for those
  not ended yet;
- ``answer_rate``: answered calls (a callee device sent ``proceed``) / all calls of the period;
- ``answer_time``: propose → proceed (how long it rang), mean and p95;
- ``setup_time``: proceed → Jingle ``session-accept`` (the call setup after the answer, which
  is what the server and the network influence), mean and p95.

p95 is the nearest-rank percentile: the smallest value with at least 95 % of the values at or
below it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from xmpp_video.calls.machine import Call, EndReason
from xmpp_video.storage.repositories import CallRecord

MAX_PERIOD_HOURS: Final = 24 * 366
DEFAULT_PERIOD_HOURS: Final = 24


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def iso(when: dt.datetime) -> str:
    """ISO 8601 / XEP-0082 in UTC to the second: ``2024-05-01T12:00:00Z``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A live call as an administrator sees it. JIDs: ``caller``/``callee`` bare, devices full;
    ``since``: when it was proposed; ``state_since``: when it entered its current state."""

    call_id: str
    caller: str
    callee: str
    state: str
    since: dt.datetime
    state_since: dt.datetime
    media: tuple[str, ...]
    caller_device: str
    devices: tuple[str, ...]  # the callee's devices that rang
    answered_by: str | None

    @classmethod
    def of(cls, call: Call) -> LiveCall:
        entered = call.active_at or call.answered_at or call.ringing_at or call.proposed_at
        return cls(
            call_id=call.call_id,
            caller=call.caller,
            callee=call.callee,
            state=str(call.state),
            since=_utc(call.proposed_at),
            state_since=_utc(entered),
            media=tuple(sorted(call.media)),
            caller_device=call.caller_device,
            devices=tuple(call.devices),
            answered_by=call.answered_by,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "callee": self.callee,
            "state": self.state,
            "since": iso(self.since),
            "state_since": iso(self.state_since),
            "media": list(self.media),
            "caller_device": self.caller_device,
            "devices": list(self.devices),
            "answered_by": self.answered_by,
        }


def live_calls(calls: Iterable[Call]) -> list[LiveCall]:
    """The live calls, oldest first."""
    return sorted((LiveCall.of(c) for c in calls if c.live), key=lambda c: (c.since, c.call_id))


@dataclass(frozen=True, slots=True)
class Distribution:
    """Durations in seconds: how many, their mean and p95 (None when there are none)."""

    count: int
    mean: float | None
    p95: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls(0, None, None)
        return cls(len(values), sum(values) / len(values), percentile(values, 95))

    def as_json(self) -> dict[str, object]:
        return {"count": self.count, "mean_seconds": self.mean, "p95_seconds": self.p95}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0 < q <= 100) of a non-empty sequence."""
    if not values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError("q must be in (0, 100]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class CallSummary:
    start: dt.datetime
    end: dt.datetime
    total: int
    answered: int
    live: int
    outcomes: tuple[tuple[str, int], ...]  # every EndReason value, in declaration order
    answer_time: Distribution
    setup_time: Distribution

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.total if self.total else None

    def as_json(self) -> dict[str, object]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "total": self.total,
            "answered": self.answered,
            "live": self.live,
            "answer_rate": self.answer_rate,
            "outcomes": dict(self.outcomes),
            "answer_time": self.answer_time.as_json(),
            "setup_time": self.setup_time.as_json(),
        }


def summarize(records: Iterable[CallRecord], start: dt.datetime, end: dt.datetime) -> CallSummary:
    """Statistics of the calls proposed in ``[start, end)`` among `records`."""
    outcomes: Counter[str] = Counter()
    total = answered = live = 0
    answer_times: list[float] = []
    setup_times: list[float] = []
    for record in records:
        if not start <= record.proposed_at < end:
            continue
        total += 1
        if record.end_reason is None:
            live += 1
        else:
            outcomes[record.end_reason] += 1
        if record.answered_at is not None:
            answered += 1
            answer_times.append((record.answered_at - record.proposed_at).total_seconds())
            if record.active_at is not None:
                setup_times.append((record.active_at - record.answered_at).total_seconds())
    known = [reason.value for reason in EndReason]
    extra = sorted(set(outcomes) - set(known))  # a reason written by a newer version
    return CallSummary(
        start=start,
        end=end,
        total=total,
        answered=answered,
        live=live,
        outcomes=tuple((reason, outcomes[reason]) for reason in (*known, *extra)),
        answer_time=Distribution.of(answer_times),
        setup_time=Distribution.of(setup_times),
    )


def period(
    now: dt.datetime,
    *,
    hours: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """The period asked for: ``[start, end)`` (end defaults to now) when a start is given,
    otherwise the last ``hours`` (default 24) before ``end`` or now. ``ValueError`` says what is
    wrong (hours out of 1…8784, start not before end, both hours and start)."""
    if hours is not None and start is not None:
        raise ValueError("give either a number of hours or a start, not both")
    until = end or now
    if start is not None:
        if start >= until:
            raise ValueError("the start must be before the end")
        return start, until
    span = DEFAULT_PERIOD_HOURS if hours is None else hours
    if not 1 <= span <= MAX_PERIOD_HOURS:
        raise ValueError(f"hours must be between 1 and {MAX_PERIOD_HOURS}")
    return until - dt.timedelta(hours=span), until
