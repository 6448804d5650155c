"""Call statistics and live-call views for administrators (calls/report.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.calls.machine import Call, CallState
from xmpp_video.calls.report import (
    LiveCall,
    live_calls,
    percentile,
    period,
    summarize,
)
from xmpp_video.storage.repositories import CallRecord

T0 = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def _record(
    n: int,
    *,
    at: dt.datetime = T0,
    end_reason: str | None = "hangup",
    answer_after: float | None = None,
    active_after: float | None = None,
) -> CallRecord:
    answered = at + dt.timedelta(seconds=answer_after) if answer_after is not None else None
    active = (
        answered + dt.timedelta(seconds=active_after)
        if answered is not None and active_after is not None
        else None
    )
    return CallRecord(
        call_id=f"c{n}",
        caller="a@x",
        caller_device="a@x/1",
        callee="b@x",
        media=("audio",),
        state="ended" if end_reason else "ringing",
        node_id="n",
        proposed_at=at,
        answered_at=answered,
        active_at=active,
        ended_at=at + dt.timedelta(minutes=1) if end_reason else None,
        end_reason=end_reason,
    )


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 95) == 19.0
    assert percentile(values, 100) == 20.0
    assert percentile(values, 50) == 10.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 95)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1))
def test_p95_has_95_percent_at_or_below(values: list[float]) -> None:
    p = percentile(values, 95)
    assert p in values
    assert sum(v <= p for v in values) >= 0.95 * len(values)
    assert sum(v < p for v in values) < 0.95 * len(values)


def test_summary_counts_outcomes_rate_and_times() -> None:
    records = [
        _record(1, answer_after=2, active_after=0.5),
        _record(2, answer_after=4, active_after=1.5, end_reason="terminated_by_admin"),
        _record(3, end_reason="declined"),
        _record(4, end_reason=None),  # still ringing
        _record(5, answer_after=1, end_reason="failed"),  # answered, never set up
        _record(6, at=T0 - dt.timedelta(days=2)),  # outside the period
    ]
    summary = summarize(records, T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
    assert (summary.total, summary.answered, summary.live) == (5, 3, 1)
    assert summary.answer_rate == 0.6
    outcomes = dict(summary.outcomes)
    assert outcomes["hangup"] == 1
    assert outcomes["terminated_by_admin"] == 1
    assert outcomes["declined"] == 1
    assert outcomes["failed"] == 1
    assert outcomes["timeout"] == 0  # every reason is listed
    assert summary.answer_time.count == 3
    assert summary.answer_time.mean == pytest.approx(7 / 3)
    assert summary.answer_time.p95 == 4
    assert (summary.setup_time.count, summary.setup_time.mean) == (2, 1.0)
    assert summary.setup_time.p95 == 1.5
    json = summary.as_json()
    assert json["start"] == "2024-05-01T11:00:00Z"
    assert json["setup_time"] == {"count": 2, "mean_seconds": 1.0, "p95_seconds": 1.5}


def test_empty_period() -> None:
    summary = summarize([], T0, T0 + dt.timedelta(hours=1))
    assert (summary.total, summary.answer_rate, summary.setup_time.mean) == (0, None, None)


def test_period_rules() -> None:
    assert period(T0) == (T0 - dt.timedelta(hours=24), T0)
    assert period(T0, hours=2) == (T0 - dt.timedelta(hours=2), T0)
    start = T0 - dt.timedelta(days=3)
    assert period(T0, start=start) == (start, T0)
    assert period(T0, start=start, end=start + dt.timedelta(hours=1)) == (
        start,
        start + dt.timedelta(hours=1),
    )
    for kwargs, needle in (
        ({"hours": 0}, "between 1 and"),
        ({"hours": 10**6}, "between 1 and"),
        ({"start": T0}, "before the end"),
        ({"hours": 1, "start": start}, "not both"),
    ):
        with pytest.raises(ValueError, match=needle):
            period(T0, **kwargs)  # type: ignore[arg-type]


def test_live_calls_view() -> None:
    call = Call(
        call_id="c1",
        caller="a@x",
        caller_device="a@x/1",
        callee="b@x",
        media=frozenset({"video", "audio"}),
        proposed_at=T0.timestamp(),
        ring_timeout=45,
        state=CallState.ACTIVE,
        devices=["b@x/phone"],
        answered_by="b@x/phone",
        answered_at=T0.timestamp() + 3,
        active_at=T0.timestamp() + 4,
    )
    ended = Call("c0", "a@x", "a@x/1", "b@x", frozenset({"audio"}), 0.0, 45, CallState.ENDED)
    (view,) = live_calls([call, ended])
    assert view == LiveCall.of(call)
    assert view.media == ("audio", "video")
    assert view.since == T0
    assert view.state_since == T0 + dt.timedelta(seconds=4)
    assert view.as_json()["since"] == "2024-05-01T12:00:00Z"
    assert view.as_json()["devices"] == ["b@x/phone"]
