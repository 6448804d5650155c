"""XEP-0352 holding rules (`stream.csi.CsiBuffer`): what waits, what collapses, what goes."""

from __future__ import annotations

from xml.etree import ElementTree as ET
from xml.etree.ElementTree import Element

import pytest

from xmpp_video.stream.csi import CsiBuffer

ROMEO = "romeo@localhost/phone"
MERCUTIO = "mercutio@localhost/pc"


def x(xml: str) -> Element:
    return ET.fromstring(
        xml.replace("<message", "<message xmlns='jabber:client'", 1).replace(
            "<presence", "<presence xmlns='jabber:client'", 1
        )
    )


def presence(from_: str, show: str = "", type_: str = "") -> Element:
    attrs = f" from='{from_}'" + (f" type='{type_}'" if type_ else "")
    inner = f"<show>{show}</show>" if show else ""
    return x(f"<presence{attrs}>{inner}</presence>")


def typing(from_: str, state: str = "composing") -> Element:
    return x(
        f"<message from='{from_}' type='chat'><{state} "
        "xmlns='http://jabber.org/protocol/chatstates'/></message>"
    )


HELD = {
    "presence": presence(ROMEO),
    "unavailable": presence(ROMEO, type_="unavailable"),
    "chat state": typing(ROMEO),
    "chat state with thread and hints": x(
        f"<message from='{ROMEO}' type='chat'><thread>t</thread>"
        "<paused xmlns='http://jabber.org/protocol/chatstates'/>"
        "<no-store xmlns='urn:xmpp:hints'/></message>"
    ),
    "carbon of a chat state": x(
        f"<message from='juliet@localhost' type='chat'><received xmlns='urn:xmpp:carbons:2'>"
        f"<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='{ROMEO}'"
        " type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        "</forwarded></received></message>"
    ),
}
SENT_AT_ONCE = {
    "message": x(f"<message from='{ROMEO}' type='chat'><body>hi</body></message>"),
    "jmi propose": x(
        f"<message from='{ROMEO}' type='chat'><propose xmlns='urn:xmpp:jingle-message:0' id='c'>"
        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'/></propose></message>"
    ),
    "omemo": x(
        f"<message from='{ROMEO}' type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'>"
        "<header sid='1'/></encrypted></message>"
    ),
    "receipt": x(f"<message from='{ROMEO}'><received xmlns='urn:xmpp:receipts' id='m'/></message>"),
    "error": x(
        f"<message from='{ROMEO}' type='error'>"
        "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    ),
    "subscribe": presence(ROMEO, type_="subscribe"),
    "presence error": presence(ROMEO, type_="error"),
    "iq": ET.fromstring(
        "<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"
    ),
    "empty message": x(f"<message from='{ROMEO}' type='chat'/>"),
}


@pytest.mark.parametrize("name", list(HELD))
def test_held(name: str) -> None:
    buffer = CsiBuffer(10)
    assert buffer.hold(HELD[name])
    assert buffer.flush() == [HELD[name]]
    assert len(buffer) == 0


@pytest.mark.parametrize("name", list(SENT_AT_ONCE))
def test_sent_at_once(name: str) -> None:
    buffer = CsiBuffer(10)
    assert not buffer.hold(SENT_AT_ONCE[name])
    assert buffer.flush() == []


def test_latest_per_contact_in_the_order_of_the_latest_updates() -> None:
    buffer = CsiBuffer(10)
    away, xa, dnd = presence(ROMEO, "away"), presence(ROMEO, "xa"), presence(ROMEO, "dnd")
    other = presence(MERCUTIO, "chat")
    composing, paused = typing(ROMEO), typing(ROMEO, "paused")
    for stanza in (away, other, composing, xa, paused, dnd):
        assert buffer.hold(stanza)
    assert buffer.flush() == [other, paused, dnd]


def test_a_message_with_a_body_ends_the_typing_it_announced() -> None:
    buffer = CsiBuffer(10)
    assert buffer.hold(typing(ROMEO))
    assert buffer.hold(typing(MERCUTIO))
    assert not buffer.hold(SENT_AT_ONCE["jmi propose"])  # no body: the typing stays
    assert len(buffer) == 2
    assert not buffer.hold(SENT_AT_ONCE["message"])
    assert [m.get("from") for m in buffer.flush()] == [MERCUTIO]


def test_bounded_new_keys_go_at_once_known_keys_still_collapse() -> None:
    buffer = CsiBuffer(2)
    assert buffer.hold(presence("a@localhost/1"))
    assert buffer.hold(presence("b@localhost/1"))
    assert not buffer.hold(presence("c@localhost/1"))
    assert buffer.hold(presence("a@localhost/1", "away"))
    assert len(buffer) == 2
