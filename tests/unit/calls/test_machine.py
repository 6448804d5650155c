"""The call state machine: flows of SPEC §6, any sequence of events, third parties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.calls.machine import (
    Call,
    CallerGone,
    CallState,
    EndReason,
    Event,
    NoDevice,
    Notify,
    Persist,
    RingTimeout,
    SetTimer,
    Terminate,
    end_reason,
)
from xmpp_video.calls.signals import Signal, SignalKind

ALICE = "alice@example.org/phone"
BOB_PHONE = "bob@example.org/phone"
BOB_LAPTOP = "bob@example.org/laptop"
MALLORY = "mallory@example.org/x"
CALL = "c0ffee"


def sig(kind: SignalKind, sender: str, to: str, reason: str | None = None) -> Signal:
    return Signal(kind, CALL, sender, to, reason)


def proposed() -> Call:
    propose = Signal(SignalKind.PROPOSE, CALL, ALICE, "bob@example.org", None, frozenset({"video"}))
    call, effects = Call.propose(propose, 100.0, 45.0)
    assert effects == [Persist(), SetTimer(45.0)]
    return call


def test_answered_call_goes_active_then_hangs_up() -> None:
    call = proposed()
    assert call.media == frozenset({"video"})
    call.apply(sig(SignalKind.RINGING, BOB_PHONE, ALICE), 101)
    call.apply(sig(SignalKind.RINGING, BOB_LAPTOP, ALICE), 101.5)
    assert call.state is CallState.RINGING
    assert call.devices == [BOB_PHONE, BOB_LAPTOP]
    effects = call.apply(sig(SignalKind.PROCEED, BOB_LAPTOP, ALICE), 105)
    assert call.state is CallState.ACCEPTED
    assert call.answered_by == BOB_LAPTOP
    assert SetTimer(45.0) in effects
    call.apply(sig(SignalKind.SESSION_INITIATE, ALICE, BOB_LAPTOP), 105.2)
    assert call.state is CallState.ACCEPTED
    assert call.apply(sig(SignalKind.SESSION_ACCEPT, BOB_LAPTOP, ALICE), 106) == [
        Persist(),
        SetTimer(None),
    ]
    assert call.state is CallState.ACTIVE
    call.apply(sig(SignalKind.SESSION_TERMINATE, ALICE, BOB_LAPTOP, "success"), 200)
    assert call.state is CallState.ENDED
    assert call.end_reason is EndReason.HANGUP
    assert call.ended_by == ALICE
    assert (call.proposed_at, call.answered_at, call.active_at, call.ended_at) == (
        100,
        105,
        106,
        200,
    )


def test_reject_busy_and_decline() -> None:
    for reason, expected in (
        ("busy", EndReason.BUSY),
        ("decline", EndReason.DECLINED),
        (None, EndReason.DECLINED),
    ):
        call = proposed()
        effects = call.apply(sig(SignalKind.REJECT, BOB_PHONE, ALICE, reason), 101)
        assert call.end_reason is expected
        assert not [e for e in effects if isinstance(e, Notify)]  # the client told the caller


def test_retract_by_the_caller_cancels() -> None:
    call = proposed()
    call.apply(sig(SignalKind.RETRACT, ALICE, "bob@example.org"), 101)
    assert call.end_reason is EndReason.CANCELLED


def test_ring_timeout_tells_both_sides() -> None:
    call = proposed()
    effects = call.apply(RingTimeout(), 145)
    assert call.end_reason is EndReason.TIMEOUT
    notices = [e for e in effects if isinstance(e, Notify)]
    assert Notify(SignalKind.RETRACT, "bob@example.org", ALICE, "timeout") in notices
    assert Notify(SignalKind.REJECT, ALICE, "bob@example.org", "timeout") in notices
    assert effects[-1] == Persist()


def test_no_device_ends_at_once_as_unavailable() -> None:
    call = proposed()
    effects = call.apply(NoDevice(), 100)
    assert call.end_reason is EndReason.UNAVAILABLE
    assert any(isinstance(e, Notify) and e.to == ALICE and e.reason == "gone" for e in effects)


def test_accepted_without_session_fails_on_timeout() -> None:
    call = proposed()
    call.apply(sig(SignalKind.PROCEED, BOB_PHONE, ALICE), 101)
    effects = call.apply(RingTimeout(), 146)
    assert call.end_reason is EndReason.FAILED
    finishes = {(e.to, e.from_) for e in effects if isinstance(e, Notify)}
    assert finishes == {(BOB_PHONE, ALICE), (ALICE, BOB_PHONE)}


def test_caller_gone_while_ringing() -> None:
    call = proposed()
    effects = call.apply(CallerGone(), 101)
    assert call.end_reason is EndReason.CANCELLED
    assert Notify(SignalKind.RETRACT, "bob@example.org", ALICE, "cancel") in effects


def test_admin_terminate_of_an_active_call() -> None:
    call = proposed()
    call.apply(sig(SignalKind.PROCEED, BOB_PHONE, ALICE), 101)
    call.apply(sig(SignalKind.SESSION_ACCEPT, BOB_PHONE, ALICE), 102)
    effects = call.apply(Terminate(EndReason.TERMINATED_BY_ADMIN, "admin@example.org"), 150)
    assert call.end_reason is EndReason.TERMINATED_BY_ADMIN
    assert call.ended_by == "admin@example.org"
    assert {e.kind for e in effects if isinstance(e, Notify)} == {SignalKind.FINISH}


def test_third_parties_change_nothing() -> None:
    call = proposed()
    for kind in SignalKind:
        assert call.apply(sig(kind, MALLORY, ALICE, "success"), 101) == []
    assert call.state is CallState.PROPOSED


def test_end_reason_mapping() -> None:
    assert end_reason("success", CallState.ACTIVE) is EndReason.HANGUP
    assert end_reason("gone", CallState.ACTIVE) is EndReason.HANGUP
    assert end_reason("success", CallState.ACCEPTED) is EndReason.CANCELLED
    assert end_reason("media-error", CallState.ACTIVE) is EndReason.FAILED
    assert end_reason("connectivity-error", CallState.ACTIVE) is EndReason.FAILED
    assert end_reason("timeout", CallState.RINGING) is EndReason.TIMEOUT
    assert end_reason("busy", CallState.RINGING) is EndReason.BUSY


_senders = st.sampled_from([ALICE, BOB_PHONE, BOB_LAPTOP, MALLORY])
_signals = st.builds(
    Signal,
    st.sampled_from(list(SignalKind)),
    st.just(CALL),
    _senders,
    _senders,
    st.sampled_from([None, "success", "busy", "decline", "timeout", "media-error", "cancel"]),
    st.sampled_from([frozenset(), frozenset({"audio"})]),
)
_events: st.SearchStrategy[Event] = st.one_of(
    _signals,
    st.just(RingTimeout()),
    st.just(NoDevice()),
    st.just(CallerGone()),
    st.builds(Terminate, st.sampled_from(list(EndReason))),
)


@given(st.lists(_events, max_size=12))
def test_any_sequence_is_handled_and_ended_is_final(events: list[Event]) -> None:
    call = proposed()
    now = 100.0
    for event in events:
        now += 1
        was_live = call.live
        effects = call.apply(event, now)
        if not was_live:
            assert effects == []
        if call.state is CallState.ENDED and was_live:
            assert call.end_reason is not None
            assert call.ended_at == now
            assert effects[-1] == Persist()
            assert SetTimer(None) in effects
        for effect in effects:
            if isinstance(effect, Notify):
                assert {effect.to.split("/")[0], effect.from_.split("/")[0]} <= {
                    "alice@example.org",
                    "bob@example.org",
                }
