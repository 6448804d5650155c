"""The little of XEP-0004 data forms that node configuration needs: read a submitted form's
fields, write a form with typed fields."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.modules.pep.names import FORM
from xmpp_video.stanza.namespaces import DATA

FIELD = f"{{{DATA}}}field"
VALUE = f"{{{DATA}}}value"
OPTION = f"{{{DATA}}}option"


@dataclass(frozen=True, slots=True)
class SubmittedForm:
    """A form as sent: its ``type``, its ``FORM_TYPE`` (None when absent) and the values of
    its other fields (a field without value maps to an empty tuple)."""

    type: str
    form_type: str | None
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def single(self, var: str) -> str | None:
        """The value of a single-valued field, "" when it has none, None when it is absent."""
        values = self.values.get(var)
        if values is None:
            return None
        return values[0] if values else ""


def read_form(x: Element) -> SubmittedForm:
    values: dict[str, tuple[str, ...]] = {}
    form_type = None
    for field_el in x.iter(FIELD):
        var = field_el.get("var")
        if var is None:
            continue
        found = tuple((v.text or "") for v in field_el.findall(VALUE))
        if var == "FORM_TYPE":
            form_type = found[0] if found else ""
        else:
            values[var] = found
    return SubmittedForm(x.get("type", ""), form_type, values)


@dataclass(frozen=True, slots=True)
class FormField:
    var: str
    type: str
    values: Sequence[str] = ()
    label: str = ""
    options: Sequence[str] = ()


def write_form(form_type: str, fields: Sequence[FormField], *, type_: str = "form") -> Element:
    x = Element(FORM, {"type": type_})
    hidden = SubElement(x, FIELD, {"var": "FORM_TYPE", "type": "hidden"})
    SubElement(hidden, VALUE).text = form_type
    for spec in fields:
        el = SubElement(x, FIELD, {"var": spec.var, "type": spec.type})
        if spec.label:
            el.set("label", spec.label)
        for option in spec.options:
            SubElement(SubElement(el, OPTION), VALUE).text = option
        for value in spec.values:
            SubElement(el, VALUE).text = value
    return x
