"""StreamParser: events, splits, restricted XML, malformed input, limits, restarts."""

import gc
import random
import time
from collections.abc import Callable, Iterable

import pytest

from tests.unit.xml.support import (
    CLOSE,
    HEADER,
    feed_all,
    feed_bytewise,
    picture,
    received,
    tree,
)
from xmpp_video.stanza.conditions import StreamErrorCondition as Condition
from xmpp_video.xml import (
    ElementReceived,
    StreamClosed,
    StreamOpened,
    StreamParser,
    XmlStreamError,
)

STREAM = "{http://etherx.jabber.org/streams}stream"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

MESSAGE = (
    b"<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat'"
    b" xml:lang='en' id='m1'><body>Art thou not Romeo, &amp; a Montague?</body>"
    b"<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
)
STANZAS = [
    b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    MESSAGE,
    b"<presence/>",
    b"<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq >",
    b"<a x='/>' y=\"'>\"/>",  # ">" and "/>" inside attribute values
    b"<b></b>",
    b"<c\n  k='v'\n/>",
    b"<d>text<e/>tail &lt;&#x263A;&#65;</d>",
    "<message><body>\u00e9t\u00e9 \u2603 \U0001f600</body></message>".encode(),
]
KEEPALIVES = [b"", b" ", b"\n", b"\r\n", b" \t "]


def whole_stream() -> bytes:
    return HEADER + b"".join(k + s for k, s in zip(KEEPALIVES * 2, STANZAS, strict=False)) + CLOSE


def raises(data: bytes, cuts: Iterable[int] = (), **limits: int) -> Condition:
    with pytest.raises(XmlStreamError) as info:
        feed_all(data, cuts, **limits)
    return info.value.condition


# -- events ---------------------------------------------------------------------------------------


def test_stream_opened() -> None:
    (event,) = StreamParser().feed(HEADER)
    assert event == StreamOpened(
        tag=STREAM,
        attrs={"to": "example.com", "version": "1.0", XML_LANG: "en"},
        default_ns="jabber:client",
    )


def test_stream_opened_without_declaration_or_default_namespace() -> None:
    (event,) = StreamParser().feed(b"<s:x xmlns:s='urn:s' s:a='1'>")
    assert event == StreamOpened(tag="{urn:s}x", attrs={"{urn:s}a": "1"}, default_ns=None)


def test_stanzas_whole() -> None:
    events = feed_all(whole_stream())
    assert isinstance(events[0], StreamOpened)
    assert events[-1] == StreamClosed()
    assert [event.size for event in received(events)] == [len(s) for s in STANZAS]
    assert len(events) == len(STANZAS) + 2


def test_split_byte_by_byte_and_at_random() -> None:
    data = whole_stream()
    expected = picture(feed_all(data))
    assert picture(feed_bytewise(data)) == expected
    rng = random.Random(6120)
    for _ in range(200):
        cuts = rng.sample(range(len(data)), rng.randrange(1, 12))
        assert picture(feed_all(data, cuts)) == expected


def test_element_contents() -> None:
    (message,) = [e.element for e in received(feed_all(HEADER + MESSAGE))]
    assert message.tag == "{jabber:client}message"
    assert message.attrib == {
        "from": "juliet@example.com/balcony",
        "to": "romeo@example.net",
        "type": "chat",
        XML_LANG: "en",
        "id": "m1",
    }
    body, active = message
    assert body.tag == "{jabber:client}body"
    assert body.text == "Art thou not Romeo, & a Montague?"
    assert active.tag == "{http://jabber.org/protocol/chatstates}active"
    assert message.text is None
    assert message.tail is None


def test_text_and_tail() -> None:
    data = HEADER + b"<d>one<e>two</e>three<f/>four</d>"
    (d,) = [e.element for e in received(feed_all(data))]
    assert tree(d) == (
        "{jabber:client}d",
        (),
        "one",
        None,
        (
            ("{jabber:client}e", (), "two", "three", ()),
            ("{jabber:client}f", (), None, "four", ()),
        ),
    )


def test_prefixed_names() -> None:
    data = HEADER + b"<p:x xmlns:p='urn:p' xmlns:q='urn:q' q:a='1' b='2'><q:y/></p:x>"
    (x,) = [e.element for e in received(feed_all(data))]
    assert x.tag == "{urn:p}x"
    assert x.attrib == {"{urn:q}a": "1", "b": "2"}
    assert x[0].tag == "{urn:q}y"


def test_no_namespace_element() -> None:
    (x,) = [e.element for e in received(feed_all(HEADER + b"<x xmlns=''><y/></x>"))]
    assert x.tag == "x"
    assert x[0].tag == "y"


def test_entities_and_character_references() -> None:
    data = HEADER + (
        b"<m a='&lt;&gt;&amp;&quot;&apos;&#9;'>&lt;&gt;&amp;&quot;&apos;&#x1F600;&#169;</m>"
    )
    (m,) = [e.element for e in received(feed_all(data))]
    assert m.attrib == {"a": "<>&\"'\t"}
    assert m.text == "<>&\"'\U0001f600\u00a9"


def test_cdata_inside_element() -> None:
    (m,) = [e.element for e in received(feed_all(HEADER + b"<m><![CDATA[<b>&]]></m>"))]
    assert m.text == "<b>&"


def test_whitespace_between_elements_is_ignored() -> None:
    events = feed_all(HEADER + b" \n\t\r\n <presence/>\n\n<presence/>  " + CLOSE)
    assert len(received(events)) == 2


@pytest.mark.parametrize("text", [b"x", b" hello ", b"&amp;", b"&#32;x", b"<![CDATA[x]]>"])
def test_text_inside_root_is_bad_format(text: bytes) -> None:
    assert raises(HEADER + b"<presence/>" + text + b"<presence/>") is Condition.BAD_FORMAT


def test_stream_closed_then_nothing_else() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    assert parser.feed(CLOSE + b" \n") == [StreamClosed()]
    with pytest.raises(XmlStreamError) as info:
        parser.feed(b"<presence/>")
    assert info.value.condition is Condition.NOT_WELL_FORMED


def test_empty_root() -> None:
    events = feed_all(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>")
    assert [type(event) for event in events] == [StreamOpened, StreamClosed]


def test_empty_feed() -> None:
    parser = StreamParser()
    assert parser.feed(b"") == []
    parser.feed(HEADER)
    assert parser.feed(b"") == []


def test_events_come_as_soon_as_the_element_is_complete() -> None:
    parser = StreamParser()
    assert parser.feed(HEADER[:-1]) == []
    assert [type(e) for e in parser.feed(HEADER[-1:] + b"<presence/")] == [StreamOpened]
    assert [type(e) for e in parser.feed(b">")] == [ElementReceived]


# -- restricted XML -------------------------------------------------------------------------------

BILLION_LAUGHS = (
    b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + b"".join(
        b"<!ENTITY lol%d '%s'>" % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    + b"<message><body>&lol9;</body></message>"
)

RESTRICTED = {
    "doctype": b"<?xml version='1.0'?><!DOCTYPE stream>" + HEADER[21:],
    "doctype-internal-subset": b"<!DOCTYPE s [<!ELEMENT s ANY>]>" + HEADER[21:],
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": (
        b"<!DOCTYPE s [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
        + HEADER[21:]
        + b"<message><body>&xxe;</body></message>"
    ),
    "external-dtd": b"<!DOCTYPE s SYSTEM 'http://example.com/s.dtd'>" + HEADER[21:],
    "parameter-entity": b"<!DOCTYPE s [<!ENTITY % p 'x'> %p;]>" + HEADER[21:],
    "doctype-in-content": HEADER + b"<message><!DOCTYPE x></message>",
    "entity-declaration-in-content": HEADER + b"<message><!ENTITY x 'y'></message>",
    "doctype-between-stanzas": HEADER + b"<presence/><!DOCTYPE x>",
    "undefined-entity-in-text": HEADER + b"<message><body>&nbsp;</body></message>",
    "undefined-entity-in-attribute": HEADER + b"<message to='&nbsp;'/>",
    "comment-in-prolog": b"<?xml version='1.0'?><!-- hi -->" + HEADER[21:],
    "comment-in-stanza": HEADER + b"<message><!-- hi --></message>",
    "comment-between-stanzas": HEADER + b"<presence/><!-- hi --><presence/>",
    "processing-instruction-in-prolog": b"<?xml-stylesheet href='a'?>" + HEADER[21:],
    "processing-instruction-in-stanza": HEADER + b"<message><?php echo 1; ?></message>",
    "processing-instruction-between-stanzas": HEADER + b"<?x y?>",
    "second-xml-declaration": HEADER + b"<?xml version='1.0'?>",
    "xml-declaration-in-stanza": HEADER + b"<message><?xml version='1.0'?></message>",
}


@pytest.mark.parametrize("data", RESTRICTED.values(), ids=RESTRICTED.keys())
def test_restricted_xml(data: bytes) -> None:
    assert raises(data) is Condition.RESTRICTED_XML
    assert raises(data, range(len(data))) is Condition.RESTRICTED_XML


def test_billion_laughs_is_not_expanded() -> None:
    parser = StreamParser()
    started = time.process_time()
    with pytest.raises(XmlStreamError) as info:
        parser.feed(BILLION_LAUGHS)
    assert time.process_time() - started < 0.05  # expanding would take seconds
    assert info.value.condition is Condition.RESTRICTED_XML
    assert "DOCTYPE" in info.value.text


def test_predefined_entity_names_are_case_sensitive() -> None:
    assert raises(HEADER + b"<m>&AMP;</m>") is Condition.RESTRICTED_XML


# -- malformed input ------------------------------------------------------------------------------

MALFORMED = {
    "mismatched-tags": HEADER + b"<message></iq>",
    "mismatched-root": HEADER + b"</stream:features>",
    "invalid-utf8": HEADER + b"<message><body>\xff</body></message>",
    "overlong-utf8": HEADER + b"<message><body>\xc0\xaf</body></message>",
    "utf8-surrogate": HEADER + b"<message><body>\xed\xa0\x80</body></message>",
    "unbound-prefix": HEADER + b"<foo:message/>",
    "unbound-attribute-prefix": HEADER + b"<message foo:a='1'/>",
    "duplicate-attribute": HEADER + b"<message a='1' a='2'/>",
    "lt-in-attribute": HEADER + b"<message a='<'/>",
    "bare-ampersand": HEADER + b"<message>&</message>",
    "nul-character": HEADER + b"<message>\x00</message>",
    "control-character": HEADER + b"<message>\x01</message>",
    "control-character-reference": HEADER + b"<message>&#1;</message>",
    "nul-character-reference": HEADER + b"<message>&#0;</message>",
    "fffe": HEADER + "<message>\ufffe</message>".encode(),
    "junk-after-root": HEADER + CLOSE + b"<presence/>",
    "text-before-root": b"hello" + HEADER,
    "no-root-name": b"<>",
    "undeclaring-prefix": HEADER + b"<message xmlns:p=''/>",
    "xmlns-prefix-declared": HEADER + b"<message xmlns:xmlns='urn:x'/>",
    "reserved-xml-prefix-rebound": HEADER + b"<message xmlns:xml='urn:x'/>",
    "markup-declaration-bogus": HEADER + b"<message><!-x></message>",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_not_well_formed(data: bytes) -> None:
    assert raises(data) is Condition.NOT_WELL_FORMED
    assert raises(data, range(len(data))) is Condition.NOT_WELL_FORMED


ENCODINGS = {
    "latin-1": b"<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER[21:],
    "utf-16-declared": b"<?xml version='1.0' encoding='UTF-16'?>" + HEADER[21:],
    "utf-16-le": HEADER.decode().encode("utf-16-le"),
    "utf-16-bom": HEADER.decode().encode("utf-16"),
    "utf-32-be": HEADER.decode().encode("utf-32-be"),
    "utf-32-le": HEADER.decode().encode("utf-32-le"),
}


@pytest.mark.parametrize("data", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_unsupported_encoding(data: bytes) -> None:
    assert raises(data) is Condition.UNSUPPORTED_ENCODING
    assert raises(data, range(len(data))) is Condition.UNSUPPORTED_ENCODING


@pytest.mark.parametrize("declaration", [b"encoding='UTF-8'", b'encoding="utf-8"', b""])
def test_utf8_declarations(declaration: bytes) -> None:
    data = b"<?xml version='1.0' " + declaration + b"?>" + HEADER[21:]
    assert isinstance(feed_all(data)[0], StreamOpened)


def test_whitespace_before_the_stream_header_is_skipped() -> None:
    parser = StreamParser(max_element_size=1024)
    for _ in range(100):
        assert parser.feed(b" \r\n\t" * 10) == []
    assert isinstance(parser.feed(HEADER)[0], StreamOpened)
    parser.reset()  # a keepalive sent just before the restarted stream's header
    assert parser.feed(b" ") == []
    assert isinstance(parser.feed(HEADER)[0], StreamOpened)
    assert isinstance(feed_all(b"\n" + HEADER, range(3))[0], StreamOpened)


def test_utf8_byte_order_mark() -> None:
    assert isinstance(feed_all(b"\xef\xbb\xbf" + HEADER)[0], StreamOpened)


# -- limits ---------------------------------------------------------------------------------------


def stanza_of_size(size: int) -> bytes:
    stanza = b"<message><body></body></message>"
    return stanza[:15] + b"x" * (size - len(stanza)) + stanza[15:]


@pytest.mark.parametrize("split", [False, True])
def test_element_exactly_at_the_size_limit(split: bool) -> None:
    limit = 1000
    data = HEADER + stanza_of_size(limit) + b"\n" + stanza_of_size(limit)
    cuts = range(len(data)) if split else []
    events = received(feed_all(data, cuts, max_element_size=limit))
    assert [event.size for event in events] == [limit, limit]


@pytest.mark.parametrize("split", [False, True])
def test_element_one_byte_over_the_size_limit(split: bool) -> None:
    limit = 1000
    data = HEADER + stanza_of_size(limit) + stanza_of_size(limit + 1)
    cuts = range(len(data)) if split else []
    assert raises(data, cuts, max_element_size=limit) is Condition.POLICY_VIOLATION


def test_empty_element_size_limit() -> None:
    limit = 300
    stanza = b"<presence a='" + b"x" * (limit - 16) + b"'/>"
    assert len(stanza) == limit
    assert received(feed_all(HEADER + stanza, max_element_size=limit))[0].size == limit
    assert raises(HEADER + stanza[:-3] + b"x'/>", max_element_size=limit) == (
        Condition.POLICY_VIOLATION
    )


@pytest.mark.parametrize(
    "prefix",
    [
        b"<message><body>",  # endless text
        b"<message to='",  # endless attribute value (start tag never completes)
        b"<message><a><b><c x='1'/></b></a>",  # endless series of children
    ],
)
def test_unfinished_element_fails_as_soon_as_it_reaches_the_limit(prefix: bytes) -> None:
    limit = 4096
    parser = StreamParser(max_element_size=limit)
    parser.feed(HEADER + prefix)
    filler = b"<a/>" if prefix.endswith(b"</a>") else b"x"
    fed = len(prefix)
    while fed + 64 * len(filler) < limit:
        assert parser.feed(filler * 64) == []
        fed += 64 * len(filler)
    with pytest.raises(XmlStreamError) as info:
        parser.feed(filler * 64)
    assert info.value.condition is Condition.POLICY_VIOLATION


def test_element_completed_within_one_huge_feed_is_measured() -> None:
    data = HEADER + stanza_of_size(5000) + stanza_of_size(100)
    assert raises(data, max_element_size=4096) is Condition.POLICY_VIOLATION


def test_endless_stream_header() -> None:
    parser = StreamParser(max_element_size=1024)
    root = b"<stream:stream to='"
    parser.feed(b"<?xml version='1.0'?>" + root)
    assert parser.feed(b"a" * (1023 - len(root))) == []  # 1023 bytes of unfinished root tag
    with pytest.raises(XmlStreamError) as info:
        parser.feed(b"a")  # 1024: the tag can no longer fit
    assert info.value.condition is Condition.POLICY_VIOLATION


def test_unfinished_markup_is_bounded_below_the_element_size() -> None:
    # expat re-scans an unfinished token on every feed: a trickled 256 KiB attribute would take
    # quadratic time. Unfinished tokens may reach 16 KiB, whatever max_element_size says.
    for prefix in [b"<message to='", b"<message><body>hi</body><x a='", b"<message><!--"]:
        parser = StreamParser()
        parser.feed(HEADER)
        parser.feed(prefix)
        start = prefix.rindex(b"<")
        pending = len(prefix) - start
        while pending + 1024 < 16384:
            assert parser.feed(b"a" * 1024) == []
            pending += 1024
        assert parser.feed(b"a" * (16383 - pending)) == []
        with pytest.raises(XmlStreamError) as info:
            parser.feed(b"a")
        assert info.value.condition is Condition.POLICY_VIOLATION


def test_a_big_start_tag_in_one_piece_is_fine() -> None:
    stanza = b"<message to='" + b"a" * 20000 + b"'/>"
    assert received(feed_all(HEADER + stanza))[0].size == len(stanza)


def test_stream_header_larger_than_the_limit() -> None:
    assert raises(HEADER, max_element_size=len(HEADER) - 10) is Condition.POLICY_VIOLATION


def test_whitespace_between_stanzas_is_not_limited() -> None:
    parser = StreamParser(max_element_size=256)
    parser.feed(HEADER)
    for _ in range(100):
        assert parser.feed(b" " * 200) == []
        assert parser.feed(b"\r\n" * 100) == []
    assert [e.size for e in received(parser.feed(b"<presence/>"))] == [11]


def test_depth_limit() -> None:
    def nested(depth: int) -> bytes:
        return b"<a>" * depth + b"</a>" * depth

    assert len(received(feed_all(HEADER + nested(5), max_depth=5))) == 1
    assert raises(HEADER + nested(6), max_depth=5) is Condition.POLICY_VIOLATION
    assert len(received(feed_all(HEADER + nested(64)))) == 1
    assert raises(HEADER + nested(65)) is Condition.POLICY_VIOLATION
    assert raises(HEADER + b"<a>" * 65) is Condition.POLICY_VIOLATION  # unfinished


def test_many_distinct_names() -> None:
    names = [b"n%d" % i for i in range(10_000)]
    data = HEADER + b"".join(b"<%s xmlns:p='urn:%s' p:%s='1'/>" % (n, n, n) for n in names)
    events = received(feed_all(data))
    assert [e.element.tag for e in events[-2:]] == ["{jabber:client}n9998", "{jabber:client}n9999"]
    assert events[-1].element.attrib == {"{urn:n9999}n9999": "1"}


def test_invalid_limits() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreamParser(max_element_size=0)
    with pytest.raises(ValueError, match="positive"):
        StreamParser(max_depth=0)


# -- restarts and failures ------------------------------------------------------------------------


def test_reset_for_stream_restart() -> None:
    parser = StreamParser()
    assert isinstance(parser.feed(HEADER)[0], StreamOpened)
    (starttls,) = parser.feed(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert isinstance(starttls, ElementReceived)
    parser.reset()
    events = parser.feed(HEADER + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    assert isinstance(events[0], StreamOpened)
    assert received(events)[0].size == 48
    parser.reset()
    events = parser.feed(HEADER[:30])
    events += parser.feed(HEADER[30:] + b"<iq/>")
    assert [type(e) for e in events] == [StreamOpened, ElementReceived]


def test_without_reset_a_new_header_is_restricted() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    with pytest.raises(XmlStreamError) as info:
        parser.feed(HEADER)
    assert info.value.condition is Condition.RESTRICTED_XML


def test_reset_mid_element_discards_it() -> None:
    parser = StreamParser()
    parser.feed(HEADER + b"<message><body>")
    parser.reset()
    assert [type(e) for e in parser.feed(HEADER + b"<presence/>")] == [
        StreamOpened,
        ElementReceived,
    ]


def test_a_failed_parser_stays_dead() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    with pytest.raises(XmlStreamError) as first:
        parser.feed(b"<presence/><!-- -->")
    for _ in range(2):
        with pytest.raises(XmlStreamError) as again:
            parser.feed(b"<presence/>")
        assert again.value.condition is first.value.condition is Condition.RESTRICTED_XML
        assert again.value.text == first.value.text
        parser.reset()


def test_error_text() -> None:
    with pytest.raises(XmlStreamError) as info:
        feed_all(HEADER + b"<message></iq>")
    assert info.value.text.startswith("mismatched tag at byte ")
    assert str(info.value) == f"not-well-formed: {info.value.text}"
    assert str(XmlStreamError(Condition.BAD_FORMAT)) == "bad-format"


def _cyclic_garbage_of(make: Callable[[], object], count: int) -> int:
    """How many objects the cyclic garbage collector finds after `count` runs of `make`."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(count):
            make()
        return gc.collect()
    finally:
        gc.enable()


def test_close_frees_the_parser_at_once() -> None:
    def used_and_closed() -> None:
        parser = StreamParser()
        parser.feed(HEADER + b"<message to='a@b'><body>hi</body></message>" + CLOSE)
        parser.close()

    def used_and_dropped() -> None:
        parser = StreamParser()
        parser.feed(HEADER + b"<message to='a@b'><body>hi</body></message>" + CLOSE)

    # without close(), each parser is a cycle of a couple of dozen objects (expat parser, its
    # handler closures and their cells) that waits for a full collection
    assert _cyclic_garbage_of(used_and_dropped, 50) >= 50 * 10
    assert _cyclic_garbage_of(used_and_closed, 50) == 0


def test_feeding_a_closed_parser_is_an_error() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    parser.close()
    parser.close()  # twice is fine
    with pytest.raises(XmlStreamError):
        parser.feed(b"<message/>")
    assert parser.compact() is False
