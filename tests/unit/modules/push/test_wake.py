"""Which messages wake a push-enabled device (xmpp_video.modules.push.wake)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, fromstring

import pytest

from xmpp_video.modules.push.wake import Wake, WakeKind, classify

ROMEO = "romeo@montague.lit/desk"
JMI = "urn:xmpp:jingle-message:0"


def message(inner: str, type_: str = "chat", from_: str = ROMEO) -> Element:
    return fromstring(
        f"<message xmlns='jabber:client' from='{from_}' to='juliet@capulet.lit'"
        f" type='{type_}'>{inner}</message>"
    )


def carbon(direction: str, inner: str) -> Element:
    return message(
        f"<{direction} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
        f"<message xmlns='jabber:client' from='juliet@capulet.lit/laptop' to='{ROMEO}'"
        f" type='chat'>{inner}</message></forwarded></{direction}>",
        from_="juliet@capulet.lit",
    )


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("<body>hi</body>", Wake(WakeKind.MESSAGE, ROMEO)),
        (
            "<encrypted xmlns='eu.siacs.conversations.axolotl'/>",
            Wake(WakeKind.MESSAGE, ROMEO),
        ),
        ("<openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp>", Wake(WakeKind.MESSAGE, ROMEO)),
        (f"<propose xmlns='{JMI}' id='c1'/>", Wake(WakeKind.CALL, ROMEO, "c1", "propose")),
        *(
            (f"<{a} xmlns='{JMI}' id='c1'/>", Wake(WakeKind.CALL_ENDED, ROMEO, "c1", a))
            for a in ("retract", "reject", "accept", "proceed")
        ),
        (f"<ringing xmlns='{JMI}' id='c1'/>", None),
        (f"<finish xmlns='{JMI}' id='c1'/>", None),
        (f"<propose xmlns='{JMI}'/>", None),  # no id: nothing to ring for
        ("<body>  </body>", None),
        ("<composing xmlns='http://jabber.org/protocol/chatstates'/>", None),
        ("<received xmlns='urn:xmpp:receipts' id='x'/>", None),
        ("", None),
    ],
)
def test_what_wakes(inner: str, expected: Wake | None) -> None:
    assert classify(message(inner)) == expected


@pytest.mark.parametrize("type_", ["error", "groupchat", "headline"])
def test_never_these_types(type_: str) -> None:
    assert classify(message("<body>hi</body>", type_=type_)) is None


def test_not_a_message() -> None:
    assert classify(fromstring("<presence xmlns='jabber:client'/>")) is None


def test_carbons() -> None:
    laptop = "juliet@capulet.lit/laptop"
    # a received copy counts as the message it forwards
    assert classify(carbon("received", "<body>hi</body>")) == Wake(WakeKind.MESSAGE, laptop)
    # what her own other device sent wakes nobody, except the end of a call
    assert classify(carbon("sent", "<body>hi</body>")) is None
    assert classify(carbon("sent", f"<propose xmlns='{JMI}' id='c'/>")) is None
    assert classify(carbon("sent", f"<proceed xmlns='{JMI}' id='c'/>")) == Wake(
        WakeKind.CALL_ENDED, laptop, "c", "proceed"
    )
    assert classify(message("<sent xmlns='urn:xmpp:carbons:2'/>")) is None
