"""XEP-0114 without sockets: the handshake, the header checks, the state table, renaming."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.jid import JID
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.stream.component import (
    ComponentState,
    can_move,
    check_header,
    handshake_digest,
    handshake_valid,
    header,
    sender_in_domain,
    to_client_namespace,
)
from xmpp_video.xml import ElementReceived, StreamOpened, StreamParser, serialize

STREAM = "{http://etherx.jabber.org/streams}stream"
ACCEPT = "jabber:component:accept"
DOMAINS = frozenset({"gw.example.com"})


def test_handshake_matches_the_xep_example() -> None:
    # XEP-0114 §3: stream id 3BF96D32, secret "test"
    assert handshake_digest("3BF96D32", "test") == "aaee83c26aeeafcbabeabfcbcd50df997e0a2a1e"
    assert handshake_valid(" AAEE83C26AEEAFCBABEABFCBCD50DF997E0A2A1E\n", "3BF96D32", "test")
    assert not handshake_valid("aaee83c26aeeafcbabeabfcbcd50df997e0a2a1f", "3BF96D32", "test")
    assert not handshake_valid(None, "3BF96D32", "test")
    assert not handshake_valid("", "3BF96D32", "test")
    assert not handshake_valid("é", "3BF96D32", "test")  # not ASCII: refused, no exception


@given(st.text(max_size=40), st.text(min_size=1, max_size=40))
def test_only_the_secret_proves_itself(stream_id: str, secret: str) -> None:
    digest = handshake_digest(stream_id, secret)
    assert handshake_valid(digest, stream_id, secret)
    assert not handshake_valid(digest, stream_id, secret + "x")


@pytest.mark.parametrize(
    ("tag", "namespace", "to", "expected"),
    [
        (STREAM, ACCEPT, "gw.example.com", ("gw.example.com", None)),
        (STREAM, ACCEPT, "GW.Example.com.", ("gw.example.com", None)),
        (STREAM, ACCEPT, "other.example.com", (None, StreamErrorCondition.HOST_UNKNOWN)),
        (STREAM, ACCEPT, None, (None, StreamErrorCondition.HOST_UNKNOWN)),
        (STREAM, ACCEPT, "a b", (None, StreamErrorCondition.HOST_UNKNOWN)),
        (STREAM, "jabber:client", "gw.example.com", (None, StreamErrorCondition.INVALID_NAMESPACE)),
        (STREAM, None, "gw.example.com", (None, StreamErrorCondition.INVALID_NAMESPACE)),
        ("{jabber:client}stream", ACCEPT, "gw.example.com", (None, "invalid")),
    ],
)
def test_check_header(
    tag: str, namespace: str | None, to: str | None, expected: tuple[object, object]
) -> None:
    result = check_header(tag, namespace, to, DOMAINS)
    if expected[1] == "invalid":
        assert result == (None, StreamErrorCondition.INVALID_NAMESPACE)
    else:
        assert result == expected


def test_state_table() -> None:
    order = [ComponentState.WAIT_HEADER, ComponentState.WAIT_HANDSHAKE, ComponentState.READY]
    for src in ComponentState:
        for dst in ComponentState:
            allowed = dst is ComponentState.CLOSED or (
                src in order and dst in order and order.index(dst) == order.index(src) + 1
            )
            assert can_move(src, dst) is allowed, (src, dst)


@pytest.mark.parametrize(
    ("from_", "expected"),
    [
        (None, "gw.example.com"),
        ("gw.example.com", "gw.example.com"),
        ("User@GW.example.com/Res", "user@gw.example.com/Res"),
        ("user@example.com", None),
        ("gw.example.com.evil", None),
        ("@gw.example.com", None),
    ],
)
def test_sender_in_domain(from_: str | None, expected: str | None) -> None:
    sender = sender_in_domain(from_, "gw.example.com")
    assert (None if sender is None else str(sender)) == expected
    if sender is not None:
        assert isinstance(sender, JID)


def test_received_stanzas_move_to_jabber_client() -> None:
    parser = StreamParser()
    events = parser.feed(
        b"<stream:stream xmlns='jabber:component:accept'"
        b" xmlns:stream='http://etherx.jabber.org/streams' to='gw.example.com'>"
        b"<message to='a@example.com'><body>hi</body><x xmlns='jabber:x:oob'><url/></x>"
        b"<error xmlns='jabber:client'/></message>"
    )
    assert isinstance(events[0], StreamOpened)
    assert isinstance(events[1], ElementReceived)
    message = events[1].element
    to_client_namespace(message)
    assert [node.tag for node in message.iter()] == [
        "{jabber:client}message",
        "{jabber:client}body",
        "{jabber:x:oob}x",
        "{jabber:x:oob}url",
        "{jabber:client}error",
    ]


def test_server_header_has_no_version_and_the_component_namespace() -> None:
    data = header(domain="gw.example.com", stream_id="abc")
    events = StreamParser().feed(data)
    opened = events[0]
    assert isinstance(opened, StreamOpened)
    assert opened.default_ns == ACCEPT
    assert opened.attrs["from"] == "gw.example.com"
    assert opened.attrs["id"] == "abc"
    assert "version" not in opened.attrs


def test_outgoing_stanzas_need_no_renaming() -> None:
    # serialized for a jabber:client default namespace, a stanza inherits the component
    # stream's namespace: the component reads it in jabber:component:accept
    message = Element("{jabber:client}message", {"to": "bot@gw.example.com"})
    SubElement(message, "{jabber:client}body").text = "hi"
    stream = header(domain="gw.example.com", stream_id="abc") + serialize(message)
    element = StreamParser().feed(stream)[1]
    assert isinstance(element, ElementReceived)
    assert element.element.tag == f"{{{ACCEPT}}}message"
    assert element.element[0].tag == f"{{{ACCEPT}}}body"
