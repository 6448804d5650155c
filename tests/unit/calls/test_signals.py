"""Reading JMI messages and Jingle iqs as call signals."""

from __future__ import annotations

from xml.etree.ElementTree import Element, fromstring

from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.calls.signals import Signal, SignalKind, from_iq, from_message

ALICE = "alice@example.org/phone"
BOB = "bob@example.org"


def _message(inner: str, type_: str = "chat") -> Element:
    return fromstring(f"<message xmlns='jabber:client' type='{type_}'>{inner}</message>")


def test_propose_with_media_and_store_hint() -> None:
    stanza = _message(
        "<propose xmlns='urn:xmpp:jingle-message:0' id='abc'>"
        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>"
        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'/></propose>"
        "<store xmlns='urn:xmpp:hints'/>"
    )
    assert from_message(stanza, ALICE, BOB) == Signal(
        SignalKind.PROPOSE, "abc", ALICE, BOB, None, frozenset({"audio", "video"})
    )


def test_reject_with_reason() -> None:
    stanza = _message(
        "<reject xmlns='urn:xmpp:jingle-message:0' id='abc'>"
        "<reason xmlns='urn:xmpp:jingle:1'><busy/><text>in a call</text></reason></reject>"
    )
    signal = from_message(stanza, BOB + "/x", ALICE)
    assert signal is not None
    assert signal.kind is SignalKind.REJECT
    assert signal.reason == "busy"


def test_not_signals() -> None:
    assert from_message(_message("<body>hi</body>"), ALICE, BOB) is None
    assert (
        from_message(_message("<propose xmlns='urn:xmpp:jingle-message:0'/>"), ALICE, BOB) is None
    )
    assert (
        from_message(_message("<unknown xmlns='urn:xmpp:jingle-message:0' id='a'/>"), ALICE, BOB)
        is None
    )
    errored = _message("<propose xmlns='urn:xmpp:jingle-message:0' id='a'/>", "error")
    assert from_message(errored, ALICE, BOB) is None
    long_id = _message(f"<ringing xmlns='urn:xmpp:jingle-message:0' id='{'x' * 200}'/>")
    assert from_message(long_id, ALICE, BOB) is None


def test_jingle_actions() -> None:
    iq = fromstring(
        "<iq xmlns='jabber:client' type='set' id='1'>"
        "<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='abc'>"
        "<reason><success/></reason></jingle></iq>"
    )
    assert from_iq(iq, ALICE, BOB + "/x") == Signal(
        SignalKind.SESSION_TERMINATE, "abc", ALICE, BOB + "/x", "success"
    )
    info = fromstring(
        "<iq xmlns='jabber:client' type='set' id='1'>"
        "<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='abc'/></iq>"
    )
    assert from_iq(info, ALICE, BOB) is None
    result = fromstring("<iq xmlns='jabber:client' type='result' id='1'/>")
    assert from_iq(result, ALICE, BOB) is None


@given(st.text(max_size=30), st.text(max_size=30))
def test_arbitrary_attributes_never_raise(kind: str, call_id: str) -> None:
    message = Element("{jabber:client}message")
    child = Element("{urn:xmpp:jingle-message:0}" + (kind or "x"))
    child.set("id", call_id)
    message.append(child)
    from_message(message, ALICE, BOB)
    iq = Element("{jabber:client}iq", {"type": "set"})
    jingle = Element("{urn:xmpp:jingle:1}jingle", {"action": kind, "sid": call_id})
    iq.append(jingle)
    from_iq(iq, ALICE, BOB)
