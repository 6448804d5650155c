"""The pure parts of the MAM module: query parsing, dates, what is archivable, ids, answers."""

from __future__ import annotations

import datetime as dt
from xml.etree.ElementTree import Element, fromstring

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.modules.mam import (
    DEFAULT_PAGE,
    MAX_PAGE,
    MamQuery,
    archivable,
    fin,
    format_datetime,
    new_archive_id,
    parse_datetime,
    parse_query,
    query_form,
)
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.storage.repositories import ArchivedMessage, ArchivePage

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"


def query(inner: str = "", **attrs: str) -> Element:
    attributes = "".join(f" {name}='{value}'" for name, value in attrs.items())
    return fromstring(f"<query xmlns='{MAM}'{attributes}>{inner}</query>")


def form(*fields: str) -> str:
    return (
        "<x xmlns='jabber:x:data' type='submit'>"
        f"<field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>"
        + "".join(fields)
        + "</x>"
    )


def field(var: str, *values: str) -> str:
    return f"<field var='{var}'>" + "".join(f"<value>{v}</value>" for v in values) + "</field>"


def condition(payload: Element) -> StanzaErrorCondition:
    with pytest.raises(StanzaError) as raised:
        parse_query(payload)
    return raised.value.condition


def test_an_empty_query_is_the_first_default_page() -> None:
    assert parse_query(query()) == MamQuery(max=DEFAULT_PAGE)


def test_a_full_query() -> None:
    parsed = parse_query(
        query(
            form(
                field("with", "Juliet@Capulet.lit/Balcony"),
                field("start", "2010-06-07T00:00:00+02:00"),
                field("end", "2010-07-07T13:23:54.123456789Z"),
                field("after-id", "a1"),
                field("before-id", "b2"),
                field("ids", "x", "y"),
            )
            + f"<set xmlns='{RSM}'><max>10</max><after>c3</after></set><flip-page/>",
            queryid="f27",
        )
    )
    assert parsed == MamQuery(
        queryid="f27",
        with_="juliet@capulet.lit/Balcony",  # prepared: local part case-folded
        start=dt.datetime(2010, 6, 6, 22, 0, tzinfo=dt.UTC),
        end=dt.datetime(2010, 7, 7, 13, 23, 54, 123456, tzinfo=dt.UTC),
        after_id="a1",
        before_id="b2",
        ids=("x", "y"),
        max=10,
        page_after="c3",
        flip=True,
    )


def test_rsm_before_pages_backwards() -> None:
    last = parse_query(query(f"<set xmlns='{RSM}'><before/></set>"))
    before = parse_query(query(f"<set xmlns='{RSM}'><before>z9</before><max>0</max></set>"))
    assert (last.last, last.page_before) == (True, None)
    assert (before.last, before.page_before, before.max) == (True, "z9", 0)


def test_max_is_capped() -> None:
    assert parse_query(query(f"<set xmlns='{RSM}'><max>999999</max></set>")).max == MAX_PAGE
    assert parse_query(query(f"<set xmlns='{RSM}'><max>5</max></set>"), max_page=3).max == 3


def test_empty_fields_are_absent() -> None:
    parsed = parse_query(query(form(field("with"), field("start", ""), field("ids"))))
    assert parsed == MamQuery()


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        (form(field("start", "2010-06-07")), StanzaErrorCondition.BAD_REQUEST),
        (form(field("start", "2010-06-07T00:00:00")), StanzaErrorCondition.BAD_REQUEST),
        (form(field("end", "2010-02-30T00:00:00Z")), StanzaErrorCondition.BAD_REQUEST),
        (form(field("with", "@nowhere")), StanzaErrorCondition.BAD_REQUEST),
        (form(field("with", "a@b", "c@d")), StanzaErrorCondition.BAD_REQUEST),
        (form(field("with", "a@b"), field("with", "c@d")), StanzaErrorCondition.BAD_REQUEST),
        ("<x xmlns='jabber:x:data' type='form'/>", StanzaErrorCondition.BAD_REQUEST),
        (
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
            "<value>urn:xmpp:mam:1</value></field></x>",
            StanzaErrorCondition.BAD_REQUEST,
        ),
        ("<x xmlns='jabber:x:data'><field><value>1</value></field></x>", "bad-request"),
        (form() + form(), StanzaErrorCondition.BAD_REQUEST),
        (f"<set xmlns='{RSM}'><max>1.5</max></set>", StanzaErrorCondition.BAD_REQUEST),
        (f"<set xmlns='{RSM}'><max>\u00b2</max></set>", StanzaErrorCondition.BAD_REQUEST),
        (f"<set xmlns='{RSM}'><after> </after></set>", StanzaErrorCondition.BAD_REQUEST),
        (form(field("include-groupchat", "true")), "feature-not-implemented"),
        (f"<set xmlns='{RSM}'><index>0</index></set>", "feature-not-implemented"),
    ],
)
def test_bad_queries(inner: str, expected: str) -> None:
    assert condition(query(inner)) == expected


def test_pubsub_archives_are_not_implemented() -> None:
    assert condition(query(node="princely_musings")) == "feature-not-implemented"


def test_datetimes() -> None:
    assert parse_datetime("2002-09-10T23:41:07Z") == dt.datetime(
        2002, 9, 10, 23, 41, 7, tzinfo=dt.UTC
    )
    assert parse_datetime(" 1969-07-20T21:56:20.5-05:00 ") == dt.datetime(
        1969, 7, 21, 2, 56, 20, 500000, tzinfo=dt.UTC
    )
    for bad in ("2002-09-10T23:41:07", "2002-09-10 23:41:07Z", "02-09-10T23:41:07Z", "nope"):
        with pytest.raises(ValueError, match="DateTime"):
            parse_datetime(bad)


@given(st.datetimes(timezones=st.just(dt.UTC)))
def test_datetimes_round_trip(when: dt.datetime) -> None:
    assert parse_datetime(format_datetime(when)) == when


def message(*children: str, type_: str = "chat") -> Element:
    return fromstring(
        f"<message xmlns='jabber:client' type='{type_}'>{''.join(children)}</message>"
    )


JMI = "<propose xmlns='urn:xmpp:jingle-message:0' id='c1'/>"
BODY = "<body>hi</body>"
NO_STORE = "<no-store xmlns='urn:xmpp:hints'/>"


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ((BODY,), True),
        ((), False),
        (("<active xmlns='http://jabber.org/protocol/chatstates'/>",), False),
        ((BODY, NO_STORE), False),
        ((BODY, "<no-permanent-store xmlns='urn:xmpp:hints'/>"), False),
        ((JMI,), True),
        ((JMI, NO_STORE), True),
        ((NO_STORE, JMI), True),
        (("<sent xmlns='urn:xmpp:carbons:2'/>", BODY), False),
        ((BODY, "<received xmlns='urn:xmpp:carbons:2'/>"), False),
        ((JMI, "<received xmlns='urn:xmpp:carbons:2'/>"), False),
        ((BODY, "<private xmlns='urn:xmpp:carbons:2'/>"), True),
        (("<result xmlns='urn:xmpp:mam:2'/>",), False),
    ],
)
def test_archivable(children: tuple[str, ...], expected: bool) -> None:
    assert archivable(message(*children)) is expected


def test_archive_ids_are_unique_and_of_the_crockford_alphabet() -> None:
    ids = {new_archive_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 26 and set(i) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for i in ids)


def test_fin_and_form() -> None:
    item = ArchivedMessage("a1", "j@x", "r@x", None, dt.datetime.now(dt.UTC), False, "<m/>")
    page = fin(ArchivePage((item,), complete=False, count=7, first_index=3))
    assert page.get("complete") == "false"
    first = page.find(f"{{{RSM}}}set/{{{RSM}}}first")
    assert first is not None
    assert (first.text, first.get("index")) == ("a1", "3")
    assert page.findtext(f"{{{RSM}}}set/{{{RSM}}}count") == "7"
    empty = fin(ArchivePage((), complete=True))
    assert empty.get("complete") == "true"
    assert list(empty.iter(f"{{{RSM}}}first")) == []
    fields = {f.get("var") for f in query_form().iter("{jabber:x:data}field")}
    assert fields == {"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"}
