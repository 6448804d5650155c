"""XEP-0004 data forms as typed values: what a command shows, and what comes back.  [pure]

A command describes its form with `Form` and `Field`; `form_element` writes it. The requester's
answer (``<x type='submit'/>``) is parsed with `parse_submission`, checked against the form that
was shown (`Form.check`: required fields, one value for single-valued types, JIDs, booleans,
list options), and read through typed accessors (`Submission.jid`, `Submission.integer`…).
Everything wrong with an answer raises `FormError`, whose message names the field; the ad-hoc
framework answers it with ``<bad-request/><bad-payload/>`` (XEP-0050 §6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.jid import JID, InvalidJID
from xmpp_video.stanza.namespaces import DATA

_X: Final = f"{{{DATA}}}x"
_FIELD: Final = f"{{{DATA}}}field"
_VALUE: Final = f"{{{DATA}}}value"
_TRUE: Final = frozenset({"1", "true"})
_FALSE: Final = frozenset({"0", "false"})


class FormError(ValueError):
    """A submitted form cannot be accepted; the message says which field and why."""


class FormType(StrEnum):
    FORM = "form"
    SUBMIT = "submit"
    CANCEL = "cancel"
    RESULT = "result"


class FieldType(StrEnum):
    BOOLEAN = "boolean"
    FIXED = "fixed"
    HIDDEN = "hidden"
    JID_MULTI = "jid-multi"
    JID_SINGLE = "jid-single"
    LIST_MULTI = "list-multi"
    LIST_SINGLE = "list-single"
    TEXT_MULTI = "text-multi"
    TEXT_PRIVATE = "text-private"
    TEXT_SINGLE = "text-single"


_MULTI: Final = frozenset({FieldType.JID_MULTI, FieldType.LIST_MULTI, FieldType.TEXT_MULTI})


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    """One field. ``values``: the default (in a form) or the answer (in a result)."""

    var: str
    type: FieldType = FieldType.TEXT_SINGLE
    label: str = ""
    required: bool = False
    values: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    desc: str = ""

    @property
    def multi(self) -> bool:
        return self.type in _MULTI

    @property
    def name(self) -> str:
        """How error messages call the field."""
        return f"{self.label} ({self.var})" if self.label else self.var


@dataclass(frozen=True, slots=True)
class Form:
    """A form to fill in (``FORM``) or a result (``RESULT``). A result may also carry a table:
    ``reported`` names its columns, each of ``items`` maps column vars to one value."""

    type: FormType = FormType.FORM
    title: str = ""
    instructions: str = ""
    fields: tuple[Field, ...] = ()
    reported: tuple[Field, ...] = ()
    items: tuple[tuple[tuple[str, str], ...], ...] = ()

    def field(self, var: str) -> Field | None:
        for candidate in self.fields:
            if candidate.var == var:
                return candidate
        return None

    def prefilled(self, answer: Submission) -> Form:
        """This form with the fields the requester answered before showing those answers
        (going back a stage, XEP-0050 §3.4); private fields are never sent back."""
        fields = tuple(
            replace(f, values=answer.values[f.var])
            if f.var in answer.values and f.type not in (FieldType.TEXT_PRIVATE, FieldType.FIXED)
            else f
            for f in self.fields
        )
        return replace(self, fields=fields)

    def check(self, submitted: Mapping[str, tuple[str, ...]]) -> Submission:
        """The answer to this form, checked field by field; `FormError` for the first problem.
        Fields the form does not have are ignored (XEP-0004 §3.2)."""
        values: dict[str, tuple[str, ...]] = {}
        for f in self.fields:
            if f.type is FieldType.FIXED:
                continue
            given = tuple(submitted.get(f.var, ()))
            if f.type is FieldType.HIDDEN:
                values[f.var] = f.values  # what we sent, whatever comes back
                continue
            if f.type in (FieldType.JID_MULTI, FieldType.LIST_MULTI):
                given = tuple(v for v in given if v.strip())
            elif not f.multi and len(given) > 1:
                raise FormError(f"{f.name} takes one value, not {len(given)}")
            if not any(v.strip() for v in given):
                if f.required:
                    raise FormError(f"{f.name} is required")
                values[f.var] = ()
                continue
            _check_values(f, given)
            values[f.var] = given
        return Submission(values)


def _check_values(f: Field, given: tuple[str, ...]) -> None:
    if f.type is FieldType.BOOLEAN and given[0].strip().lower() not in _TRUE | _FALSE:
        raise FormError(f"{f.name} must be a boolean (true/false), not {given[0]!r}")
    if f.type in (FieldType.JID_SINGLE, FieldType.JID_MULTI):
        for value in given:
            try:
                JID.parse(value.strip())
            except InvalidJID:
                raise FormError(f"{f.name}: {value!r} is not a valid JID") from None
    if f.type in (FieldType.LIST_SINGLE, FieldType.LIST_MULTI) and f.options:
        allowed = {o.value for o in f.options}
        for value in given:
            if value not in allowed:
                raise FormError(f"{f.name}: {value!r} is not one of the options")


@dataclass(frozen=True, slots=True)
class Submission:
    """The checked answers by field var, read through typed accessors. Every accessor raises
    `FormError` for a value it cannot read."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def merged(self, later: Submission) -> Submission:
        return Submission({**self.values, **later.values})

    def text(self, var: str) -> str:
        """A single value, stripped; empty when not given."""
        given = self.values.get(var, ())
        return given[0].strip() if given else ""

    def secret(self, var: str) -> str:
        """A single value as typed (passwords keep their spaces)."""
        given = self.values.get(var, ())
        return given[0] if given else ""

    def lines(self, var: str) -> list[str]:
        """A text-multi value, one string per line."""
        return list(self.values.get(var, ()))

    def boolean(self, var: str, default: bool = False) -> bool:
        text = self.text(var).lower()
        if not text:
            return default
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise FormError(f"{var} must be a boolean, not {text!r}")

    def jid(self, var: str) -> JID | None:
        text = self.text(var)
        return _jid(var, text) if text else None

    def jids(self, var: str) -> list[JID]:
        return [_jid(var, v.strip()) for v in self.values.get(var, ()) if v.strip()]

    def integer(self, var: str, *, minimum: int, maximum: int) -> int | None:
        text = self.text(var)
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise FormError(f"{var} must be a whole number, not {text!r}") from None
        if not minimum <= value <= maximum:
            raise FormError(f"{var} must be between {minimum} and {maximum}, not {value}")
        return value

    def datetime(self, var: str) -> dt.datetime | None:
        """A XEP-0082 DateTime (an ISO 8601 time; without a zone it is UTC), aware UTC."""
        text = self.text(var)
        if not text:
            return None
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise FormError(
                f"{var} must be a date and time like 2024-05-01T12:00:00Z, not {text!r}"
            ) from None
        if when.utcoffset() is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC)


def _jid(var: str, text: str) -> JID:
    try:
        return JID.parse(text)
    except InvalidJID:
        raise FormError(f"{var}: {text!r} is not a valid JID") from None


def format_datetime(when: dt.datetime) -> str:
    """XEP-0082 DateTime in UTC, to the second: ``2024-05-01T12:00:00Z``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- XML ----------------------------------------------------------------------------------


def _field_element(parent: Element, f: Field, *, with_type: bool = True) -> None:
    attrs = {"var": f.var}
    if with_type:
        attrs["type"] = str(f.type)
    if f.label:
        attrs["label"] = f.label
    el = SubElement(parent, _FIELD, attrs)
    if f.desc:
        SubElement(el, f"{{{DATA}}}desc").text = f.desc
    if f.required:
        SubElement(el, f"{{{DATA}}}required")
    for value in f.values:
        SubElement(el, _VALUE).text = value
    for option in f.options:
        opt = SubElement(el, f"{{{DATA}}}option", {"label": option.label} if option.label else {})
        SubElement(opt, _VALUE).text = option.value


def form_element(form: Form) -> Element:
    """The ``<x xmlns='jabber:x:data'/>`` of `form`."""
    x = Element(_X, {"type": str(form.type)})
    if form.title:
        SubElement(x, f"{{{DATA}}}title").text = form.title
    if form.instructions:
        for line in form.instructions.split("\n"):
            SubElement(x, f"{{{DATA}}}instructions").text = line
    for f in form.fields:
        _field_element(x, f)
    if form.reported:
        reported = SubElement(x, f"{{{DATA}}}reported")
        for f in form.reported:
            _field_element(reported, f)
        types = {f.var: f for f in form.reported}
        for row in form.items:
            item = SubElement(x, f"{{{DATA}}}item")
            for var, value in row:
                column = types.get(var, Field(var))
                _field_element(item, replace(column, values=(value,), label=""), with_type=False)
    return x


def find_form(parent: Iterable[Element]) -> Element | None:
    """The first data form among `parent`'s children."""
    for child in parent:
        if child.tag == _X:
            return child
    return None


def parse_submission(x: Element) -> dict[str, tuple[str, ...]]:
    """The values of a submitted ``<x/>`` by var. Type ``cancel`` counts as ``submit``
    (XEP-0050 §4.4.1); a form or result, a field without var or twice the same var is refused."""
    type_ = x.get("type", "")
    if type_ not in (FormType.SUBMIT, FormType.CANCEL):
        raise FormError(f"the data form must be of type 'submit', not {type_!r}")
    values: dict[str, tuple[str, ...]] = {}
    for f in x.findall(_FIELD):
        var = f.get("var")
        if not var:
            raise FormError("a submitted field has no 'var'")
        if var in values:
            raise FormError(f"field {var!r} is submitted twice")
        values[var] = tuple(v.text or "" for v in f.findall(_VALUE))
    return values


def result_form(title: str, *fields: Field, form_type: str = "") -> Form:
    """A result form with a FORM_TYPE (XEP-0068) when ``form_type`` is given."""
    hidden = (Field("FORM_TYPE", FieldType.HIDDEN, values=(form_type,)),) if form_type else ()
    return Form(FormType.RESULT, title=title, fields=(*hidden, *fields))
