"""XEP-0198 counters and nonzas (`stream.sm`): h arithmetic modulo 2^32, every way round."""

from __future__ import annotations

from xml.etree import ElementTree as ET
from xml.etree.ElementTree import Element

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.stream import sm
from xmpp_video.stream.sm import MODULUS, HandledCountTooHigh, SmState, parse_h


def _stanzas(n: int) -> list[Element]:
    return [Element("{jabber:client}message", {"id": str(i)}) for i in range(n)]


@given(start=st.integers(0, MODULUS - 1), sends=st.lists(st.integers(0, 20), max_size=8))
def test_acks_drop_exactly_what_they_cover_across_the_wrap(start: int, sends: list[int]) -> None:
    """Whatever h the stream starts from (a long-lived one wraps at 2^32), acknowledging k
    more stanzas drops the k oldest, in order, and nothing else."""
    state = SmState("id")
    state.acked = start
    sent: list[Element] = []
    for n in sends:
        batch = _stanzas(n)
        sent.extend(batch)
        state.unacked.extend(batch)
        k = n // 2
        assert state.ack((state.acked + k) % MODULUS) == k
        del sent[:k]
        assert list(state.unacked) == sent
        assert state.sent == (state.acked + len(sent)) % MODULUS


@given(start=st.integers(0, MODULUS - 1), queued=st.integers(0, 10), extra=st.integers(1, 1000))
def test_an_ack_beyond_what_was_sent_is_refused_and_changes_nothing(
    start: int, queued: int, extra: int
) -> None:
    state = SmState(None)
    state.acked = start
    state.unacked.extend(_stanzas(queued))
    too_high = (start + queued + extra) % MODULUS
    with pytest.raises(HandledCountTooHigh) as raised:
        state.ack(too_high)
    assert raised.value.h == too_high
    assert raised.value.sent == (start + queued) % MODULUS
    assert state.acked == start
    assert len(state.unacked) == queued
    element = ET.fromstring(raised.value.element())
    assert element.tag == f"{{{sm.NS}}}handled-count-too-high"
    assert element.get("send-count") == str(raised.value.sent)


def test_an_old_h_again_acknowledges_nothing() -> None:
    state = SmState("id")
    state.unacked.extend(_stanzas(3))
    assert state.ack(2) == 2
    assert state.ack(2) == 0
    assert len(state.unacked) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("42", 42),
        (str(MODULUS - 1), MODULUS - 1),
        (str(MODULUS), None),
        ("-1", None),
        ("", None),
        (None, None),
        ("1e3", None),
        (" 1", None),
        ("٣", None),  # a digit, but not an ASCII one
        ("99999999999", None),
    ],
)
def test_parse_h(value: str | None, expected: int | None) -> None:
    assert parse_h(value) == expected


def test_nonzas_are_well_formed_and_namespaced() -> None:
    for data in (
        sm.enabled("abc", 300),
        sm.enabled(None, 300),
        sm.ack(7),
        sm.R,
        sm.resumed("abc", 5),
        sm.failed("item-not-found"),
        sm.failed("undefined-condition", 3, HandledCountTooHigh(9, 3).element()),
    ):
        element = ET.fromstring(data)
        assert element.tag.startswith(f"{{{sm.NS}}}"), data
    failed = ET.fromstring(sm.failed("item-not-found", 12))
    assert failed.get("h") == "12"
    assert [c.tag for c in failed] == ["{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found"]
    enabled = ET.fromstring(sm.enabled("abc", 300))
    assert enabled.attrib == {"id": "abc", "resume": "true", "max": "300"}
