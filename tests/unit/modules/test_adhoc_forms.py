"""XEP-0004 forms of the ad-hoc framework: writing them, reading and checking answers."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from xml.etree.ElementTree import Element, SubElement, fromstring, tostring

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.modules.adhoc.forms import (
    Field,
    FieldType,
    Form,
    FormError,
    FormType,
    Option,
    Submission,
    form_element,
    parse_submission,
)
from xmpp_video.stanza.namespaces import DATA

FORM = Form(
    title="T",
    fields=(
        Field("FORM_TYPE", FieldType.HIDDEN, values=("urn:x",)),
        Field("info", FieldType.FIXED, values=("read me",)),
        Field("who", FieldType.JID_SINGLE, "Who", required=True),
        Field("many", FieldType.JID_MULTI),
        Field("secret", FieldType.TEXT_PRIVATE, required=True),
        Field("flag", FieldType.BOOLEAN),
        Field("size", FieldType.LIST_SINGLE, options=(Option("1"), Option("2"))),
        Field("lines", FieldType.TEXT_MULTI),
        Field("n", FieldType.TEXT_SINGLE),
    ),
)


def _x(values: dict[str, tuple[str, ...]], type_: str = "submit") -> Element:
    x = Element(f"{{{DATA}}}x", {"type": type_})
    for var, vals in values.items():
        f = SubElement(x, f"{{{DATA}}}field", {"var": var})
        for v in vals:
            SubElement(f, f"{{{DATA}}}value").text = v
    return x


def test_a_good_answer_reads_typed() -> None:
    answer = FORM.check(
        parse_submission(
            _x(
                {
                    "FORM_TYPE": ("forged",),
                    "who": (" Alice@Example.COM ",),
                    "many": ("a@b", "", "c@d/r"),
                    "secret": ("  spaced  ",),
                    "flag": ("1",),
                    "size": ("2",),
                    "lines": ("one", "", "three"),
                    "n": ("42",),
                    "unknown": ("ignored",),
                }
            )
        )
    )
    assert str(answer.jid("who")) == "alice@example.com"
    assert [str(j) for j in answer.jids("many")] == ["a@b", "c@d/r"]
    assert answer.secret("secret") == "  spaced  "
    assert answer.boolean("flag") is True
    assert answer.text("size") == "2"
    assert answer.lines("lines") == ["one", "", "three"]
    assert answer.integer("n", minimum=0, maximum=100) == 42
    assert answer.values["FORM_TYPE"] == ("urn:x",)  # what we sent, not what came back
    assert "unknown" not in answer.values
    assert "info" not in answer.values


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"secret": ("x",)}, "Who (who) is required"),
        ({"who": ("  ",), "secret": ("x",)}, "is required"),
        ({"who": ("a@b",), "secret": ("   ",)}, "secret is required"),
        ({"who": ("a@b", "c@d"), "secret": ("x",)}, "takes one value"),
        ({"who": ("a@@b",), "secret": ("x",)}, "not a valid JID"),
        ({"who": ("a@b",), "many": ("ok@b", "@"), "secret": ("x",)}, "not a valid JID"),
        ({"who": ("a@b",), "secret": ("x",), "flag": ("yes",)}, "must be a boolean"),
        ({"who": ("a@b",), "secret": ("x",), "size": ("3",)}, "not one of the options"),
    ],
)
def test_bad_answers_name_the_field(values: dict[str, tuple[str, ...]], needle: str) -> None:
    with pytest.raises(FormError, match=re.escape(needle)):
        FORM.check(parse_submission(_x(values)))


def test_submission_shape_is_checked() -> None:
    for x, needle in (
        (_x({"who": ("a@b",)}, type_="form"), "of type 'submit'"),
        (fromstring(f"<x xmlns='{DATA}' type='submit'><field><value>1</value></field></x>"), "var"),
        (
            fromstring(
                f"<x xmlns='{DATA}' type='submit'><field var='a'/><field var='a'/></x>",
            ),
            "twice",
        ),
    ):
        with pytest.raises(FormError, match=needle):
            parse_submission(x)
    # XEP-0050 §4.4.1: a 'cancel' form counts as 'submit'
    assert parse_submission(_x({"who": ("a@b",)}, type_="cancel")) == {"who": ("a@b",)}


def test_typed_accessors_refuse_bad_values() -> None:
    answer = Submission({"n": ("x",), "big": ("500",), "t": ("tomorrow",), "b": ("maybe",)})
    with pytest.raises(FormError, match="whole number"):
        answer.integer("n", minimum=0, maximum=9)
    with pytest.raises(FormError, match="between 0 and 9"):
        answer.integer("big", minimum=0, maximum=9)
    with pytest.raises(FormError, match="date and time"):
        answer.datetime("t")
    with pytest.raises(FormError, match="boolean"):
        answer.boolean("b")
    assert answer.integer("missing", minimum=0, maximum=1) is None
    assert Submission({"t": ("2024-05-01T12:00:00",)}).datetime("t") == dt.datetime(
        2024, 5, 1, 12, tzinfo=dt.UTC
    )
    assert Submission({"t": ("2024-05-01T14:00:00+02:00",)}).datetime("t") == dt.datetime(
        2024, 5, 1, 12, tzinfo=dt.UTC
    )


def test_prefilled_shows_earlier_answers_but_never_secrets() -> None:
    answer = Submission({"who": ("a@b",), "secret": ("pw",), "info": ("x",)})
    form = FORM.prefilled(answer)
    assert form.field("who") == Field("who", FieldType.JID_SINGLE, "Who", True, ("a@b",))
    secret = form.field("secret")
    assert secret is not None
    assert secret.values == ()
    info = form.field("info")
    assert info is not None
    assert info.values == ("read me",)


def test_form_and_result_table_xml() -> None:
    x = form_element(
        Form(
            FormType.RESULT,
            title="Calls",
            instructions="line one\nline two",
            fields=(Field("count", values=("1",)),),
            reported=(Field("call", label="Call"), Field("who", FieldType.JID_SINGLE)),
            items=((("call", "c1"), ("who", "a@b")),),
        )
    )
    text = tostring(x, encoding="unicode")
    assert x.get("type") == "result"
    assert [i.text for i in x.findall(f"{{{DATA}}}instructions")] == ["line one", "line two"]
    reported = x.find(f"{{{DATA}}}reported")
    assert reported is not None
    assert [f.get("var") for f in reported] == ["call", "who"]
    items = x.findall(f"{{{DATA}}}item")
    assert len(items) == 1
    values = {f.get("var"): f.findtext(f"{{{DATA}}}value") for f in items[0]}
    assert values == {"call": "c1", "who": "a@b"}
    assert "type=" not in tostring(items[0], encoding="unicode")  # item fields carry no type
    assert "Calls" in text


@given(
    st.dictionaries(
        st.sampled_from(["who", "many", "secret", "flag", "size", "lines", "n", "other"]),
        st.lists(st.text(max_size=8), max_size=3).map(tuple),
    )
)
def test_any_answer_is_accepted_or_refused_with_form_error(
    values: dict[str, tuple[str, ...]],
) -> None:
    with contextlib.suppress(FormError):
        FORM.check(values)
