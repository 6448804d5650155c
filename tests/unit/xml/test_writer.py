"""serialize(), stream_header(), stream_error(), STREAM_CLOSE."""

from xml.etree.ElementTree import Element, SubElement

import pytest

from tests.unit.xml.support import HEADER, feed_all, received, tree
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.xml import STREAM_CLOSE, StreamOpened, serialize, stream_error, stream_header

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def test_default_namespace_is_implicit_and_inherited() -> None:
    message = Element("{jabber:client}message", {"to": "romeo@example.net", "type": "chat"})
    SubElement(message, "{jabber:client}body").text = "hi"
    assert serialize(message) == (
        b"<message to='romeo@example.net' type='chat'><body>hi</body></message>"
    )


def test_other_namespaces_are_declared_as_default() -> None:
    iq = Element("{jabber:client}iq", {"type": "result", "id": "r1"})
    query = SubElement(iq, "{jabber:iq:roster}query", {"ver": "v1"})
    SubElement(query, "{jabber:iq:roster}item", {"jid": "juliet@example.com"})
    SubElement(iq, "{jabber:client}error")
    assert serialize(iq) == (
        b"<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='v1'>"
        b"<item jid='juliet@example.com'/></query><error/></iq>"
    )


def test_default_ns_argument() -> None:
    iq = Element("{jabber:server}iq")
    assert serialize(iq, default_ns="jabber:server") == b"<iq/>"
    assert serialize(iq) == b"<iq xmlns='jabber:server'/>"
    assert serialize(Element("{jabber:client}iq"), default_ns="jabber:server") == (
        b"<iq xmlns='jabber:client'/>"
    )


def test_element_without_namespace() -> None:
    outer = Element("{urn:x}outer")
    SubElement(outer, "plain")
    assert serialize(outer) == b"<outer xmlns='urn:x'><plain xmlns=''/></outer>"
    assert serialize(Element("plain"), default_ns="") == b"<plain/>"


def test_stream_namespace_uses_the_stream_prefix() -> None:
    features = Element("{http://etherx.jabber.org/streams}features")
    SubElement(features, "{urn:ietf:params:xml:ns:xmpp-tls}starttls")
    SubElement(features, "{jabber:client}x")
    SubElement(features, "{http://etherx.jabber.org/streams}nested")
    assert serialize(features) == (
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><x/>"
        b"<nested xmlns='http://etherx.jabber.org/streams'/></stream:features>"
    )


def test_stream_namespace_below_the_top_is_self_contained() -> None:
    message = Element("{jabber:client}message")
    SubElement(message, "{http://etherx.jabber.org/streams}x")
    assert serialize(message, default_ns="") == (
        b"<message xmlns='jabber:client'><x xmlns='http://etherx.jabber.org/streams'/></message>"
    )


def test_namespaced_attributes() -> None:
    element = Element(
        "{jabber:client}message",
        {XML_LANG: "de", "{urn:a}x": "1", "{urn:b}y": "2", "{urn:a}z": "3", "plain": "4"},
    )
    assert serialize(element) == (
        b"<message xml:lang='de' xmlns:ns0='urn:a' ns0:x='1' xmlns:ns1='urn:b' ns1:y='2'"
        b" ns0:z='3' plain='4'/>"
    )


def test_escaping() -> None:
    element = Element("{jabber:client}m", {"a": "<&>\"'\t\n\r x"})
    element.text = "<&>\"'\t\n\r ]]>"
    child = SubElement(element, "{jabber:client}c")
    child.tail = "a&b<c>"
    assert serialize(element) == (
        b"<m a='&lt;&amp;&gt;&quot;&apos;&#9;&#10;&#13; x'>&lt;&amp;&gt;\"'\t\n&#13; ]]&gt;"
        b"<c/>a&amp;b&lt;c&gt;</m>"
    )


def test_unicode() -> None:
    element = Element("{urn:\u00fc}\u00e9l\u00e9ment", {"n\u00e4me": "\u2603"})
    element.text = "\U0001f600"
    expected = (
        "<\u00e9l\u00e9ment xmlns='urn:\u00fc' n\u00e4me='\u2603'>\U0001f600</\u00e9l\u00e9ment>"
    )
    assert serialize(element) == expected.encode()


def test_own_tail_is_not_written_and_element_is_unchanged() -> None:
    element = Element("{jabber:client}presence")
    element.tail = "after"
    assert serialize(element) == b"<presence/>"
    assert element.tail == "after"


def test_empty_text_is_an_empty_element() -> None:
    element = Element("{jabber:client}body")
    element.text = ""
    assert serialize(element) == b"<body/>"


def test_parse_of_serialize() -> None:
    message = Element("{jabber:client}message", {XML_LANG: "fr", "{urn:p}a": "&'\""})
    SubElement(message, "{jabber:client}body").text = "a < b\r\n"
    SubElement(message, "{urn:x}x").tail = " tail "
    (event,) = received(feed_all(HEADER + serialize(message)))
    assert tree(event.element) == tree(message)
    assert event.size == len(serialize(message))


def test_stream_header() -> None:
    assert stream_header(from_="example.com", id_="abc", to="juliet@example.com") == (
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
        b" xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='abc'"
        b" to='juliet@example.com' version='1.0' xml:lang='en'>"
    )


def test_stream_header_minimal_and_escaped() -> None:
    header = stream_header(
        from_="a'b", id_=None, version="", lang="", default_ns="jabber:component:accept"
    )
    assert header == (
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept'"
        b" xmlns:stream='http://etherx.jabber.org/streams' from='a&apos;b'>"
    )


def test_stream_header_parses() -> None:
    header = stream_header(from_="example.com", id_="s1", to="j@example.com", lang="de")
    (event,) = feed_all(header)
    assert event == StreamOpened(
        tag="{http://etherx.jabber.org/streams}stream",
        attrs={
            "from": "example.com",
            "id": "s1",
            "to": "j@example.com",
            "version": "1.0",
            XML_LANG: "de",
        },
        default_ns="jabber:client",
    )


def test_stream_error() -> None:
    assert stream_error(StreamErrorCondition.NOT_WELL_FORMED) == (
        b"<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"</stream:error>"
    )
    assert stream_error(StreamErrorCondition.POLICY_VIOLATION, "too <big> & bad") == (
        b"<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too &lt;big&gt; &amp; bad</text>"
        b"</stream:error>"
    )


@pytest.mark.parametrize("condition", list(StreamErrorCondition))
def test_stream_error_parses(condition: StreamErrorCondition) -> None:
    events = feed_all(HEADER + stream_error(condition, "why") + STREAM_CLOSE)
    (event,) = received(events)
    error = event.element
    assert error.tag == "{http://etherx.jabber.org/streams}error"
    assert [child.tag for child in error] == [
        f"{{urn:ietf:params:xml:ns:xmpp-streams}}{condition}",
        "{urn:ietf:params:xml:ns:xmpp-streams}text",
    ]
    assert error[1].text == "why"


def test_stream_close() -> None:
    assert STREAM_CLOSE == b"</stream:stream>"
