"""Hypothesis properties of the XML stream layer: splits, round trips, arbitrary input."""

from typing import Literal
from xml.etree.ElementTree import Element

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.xml.support import CLOSE, HEADER, feed_all, picture, pieces, received, tree
from xmpp_video.stanza.conditions import StreamErrorCondition as Condition
from xmpp_video.xml import ElementReceived, Event, StreamParser, XmlStreamError, serialize

XML_NS = "http://www.w3.org/XML/1998/namespace"
DOCUMENTED = {
    Condition.NOT_WELL_FORMED,
    Condition.RESTRICTED_XML,
    Condition.UNSUPPORTED_ENCODING,
    Condition.BAD_FORMAT,
    Condition.POLICY_VIOLATION,
}
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- generated elements ---------------------------------------------------------------------------

SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
# XML 1.0 characters (one strategy, not a filtered mix: text generation is the slow part).
xml_chars = st.characters(
    min_codepoint=0x9,
    exclude_categories=SURROGATES,
    exclude_characters="".join(map(chr, [0xB, 0xC, *range(0xE, 0x20)])) + "\ufffe\uffff",
)
texts = st.one_of(st.text(xml_chars, max_size=8), st.sampled_from(["&<>'\"", "\r\n\t", "]]>"]))
names = st.sampled_from(["a", "message", "body", "x-y", "n.1", "_u", "\u00e9t\u00e9", "\u540d"])
namespaces = st.sampled_from(
    [
        "jabber:client",
        "",
        "urn:x",
        "jabber:iq:roster",
        "http://etherx.jabber.org/streams",
        "urn:\u00fc",
        "http://a/b?c=d&e='f'",
    ]
)
attribute_namespaces = st.sampled_from(["", "", "", XML_NS, "urn:x", "urn:p", "jabber:client"])


def clark(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}" if namespace else local


tags = st.builds(clark, namespaces, names)
attributes = st.dictionaries(st.builds(clark, attribute_namespaces, names), texts, max_size=3)


def element(
    tag: str, attrib: dict[str, str], text: str, children: list[tuple[Element, str]]
) -> Element:
    built = Element(tag, attrib)
    built.text = text or None
    for child, tail in children:
        child.tail = tail or None
        built.append(child)
    return built


leaves = st.builds(element, tags, attributes, texts, st.just([]))
elements = st.recursive(
    leaves,
    lambda kids: st.builds(
        element, tags, attributes, texts, st.lists(st.tuples(kids, texts), max_size=3)
    ),
    max_leaves=5,
)
keepalives = st.sampled_from(["", "", " ", "\n", "\r\n", " \t"]).map(str.encode)


def stream_of(stanzas: list[Element], spaces: list[bytes], closed: bool) -> bytes:
    body = b"".join(
        space + serialize(stanza) for space, stanza in zip(spaces, stanzas, strict=False)
    )
    return HEADER + body + (CLOSE if closed else b"")


# -- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(elements)
def test_round_trip(original: Element) -> None:
    data = serialize(original)
    (event,) = received(feed_all(HEADER + data))
    assert tree(event.element) == tree(original)
    assert event.size == len(data)
    assert serialize(event.element) == data


@settings(SETTINGS, max_examples=200)
@given(
    st.lists(elements, max_size=4),
    st.lists(keepalives, min_size=5, max_size=5),
    st.booleans(),
    st.data(),
)
def test_any_split_yields_the_same_events(
    stanzas: list[Element], spaces: list[bytes], closed: bool, data: st.DataObject
) -> None:
    stream = stream_of(stanzas, spaces, closed)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    whole = feed_all(stream)
    split = feed_all(stream, cuts)
    assert picture(split) == picture(whole)
    assert [serialize(e.element) for e in received(split)] == [serialize(s) for s in stanzas]
    assert [e.size for e in received(split)] == [len(serialize(s)) for s in stanzas]


def check_any_input(chunks: list[bytes], **limits: int) -> tuple[list[Event], bool]:
    """Feed ``chunks``: either every chunk is accepted, or a documented XmlStreamError is raised
    and the parser stays dead. Accepted elements serialize and parse back to themselves.
    Returns the events and whether all the input was accepted."""
    parser = StreamParser(**limits)
    events: list[Event] = []
    failure: XmlStreamError | None = None
    try:
        for chunk in chunks:
            events += parser.feed(chunk)
    except XmlStreamError as exc:
        failure = exc
    if failure is not None:
        assert failure.condition in DOCUMENTED
        with pytest.raises(XmlStreamError) as again:
            parser.feed(b"<x/>")
        assert again.value.condition is failure.condition
    for event in events:
        if isinstance(event, ElementReceived):
            assert event.size > 0
            reparsed = received(feed_all(HEADER + serialize(event.element)))
            assert [tree(e.element) for e in reparsed] == [tree(event.element)]
    return events, failure is None


@settings(SETTINGS, max_examples=300)
@given(st.binary(max_size=200), st.booleans(), st.lists(st.integers(0, 200), max_size=8))
def test_any_bytes_are_accepted_or_rejected_with_a_documented_condition(
    data: bytes, after_header: bool, cuts: list[int]
) -> None:
    check_any_input(pieces((HEADER if after_header else b"") + data, cuts))


TOKENS = [
    b"<",
    b">",
    b"/>",
    b"</",
    b"'",
    b'"',
    b"=",
    b"&",
    b"&lt;",
    b"&#65;",
    b"&#0;",
    b"&foo;",
    b"<!DOCTYPE x>",
    b"<!ENTITY e 'x'>",
    b"<!--",
    b"-->",
    b"<?x?>",
    b"<?xml version='1.0'?>",
    b"<![CDATA[",
    b"]]>",
    b"\xff",
    b"\xc3",
    b"\xe2\x98\x83",
    b"\x00",
    b" ",
    b"\r",
    b"xmlns='urn:m'",
    b"xmlns:p='urn:p'",
    b"p:",
    b"xml:lang='en'",
    b"<a>",
    b"</a>",
    b"<b/>",
    b"text",
    b"</stream:stream>",
]


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    stream = bytearray(
        stream_of(
            draw(st.lists(elements, min_size=1, max_size=3)),
            draw(st.lists(keepalives, min_size=3, max_size=3)),
            draw(st.booleans()),
        )
    )
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(stream)))
        operation = draw(st.sampled_from(["insert", "delete", "replace"]))
        if operation == "delete":
            del stream[position : position + draw(st.integers(1, 8))]
        else:
            token = draw(st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=4)))
            end = position + (len(token) if operation == "replace" else 0)
            stream[position:end] = token
    return bytes(stream)


@settings(SETTINGS, max_examples=250)
@given(
    mutated_streams(),
    st.lists(st.integers(0, 2000), max_size=10),
    st.integers(150, 2000),
    st.integers(1, 6),
)
def test_mutated_streams_are_accepted_or_rejected_with_a_documented_condition(
    stream: bytes, cuts: list[int], max_element_size: int, max_depth: int
) -> None:
    limits = {"max_element_size": max_element_size, "max_depth": max_depth}
    split, split_accepted = check_any_input(pieces(stream, cuts), **limits)
    whole, whole_accepted = check_any_input([stream], **limits)
    # Splitting changes neither the verdict nor, when accepted, the events.
    assert split_accepted == whole_accepted
    if whole_accepted:
        assert picture(split) == picture(whole)
