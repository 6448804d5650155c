"""Small constructors for the stanzas the server itself writes."""

from __future__ import annotations

from xml.etree.ElementTree import Element

IQ = "{jabber:client}iq"
MESSAGE = "{jabber:client}message"
PRESENCE = "{jabber:client}presence"
STANZA_TAGS = frozenset((IQ, MESSAGE, PRESENCE))


def iq_result(request: Element, payload: Element | None = None) -> Element:
    """The `result` answering `request` (addresses swapped)."""
    reply = Element(IQ, {"type": "result"})
    for attr, swapped in (("id", "id"), ("from", "to"), ("to", "from")):
        value = request.get(attr)
        if value is not None:
            reply.set(swapped, value)
    if payload is not None:
        reply.append(payload)
    return reply


def iq(type_: str, *, to: str | None, from_: str | None, id_: str, payload: Element) -> Element:
    el = Element(IQ, {"type": type_, "id": id_})
    if to is not None:
        el.set("to", to)
    if from_ is not None:
        el.set("from", from_)
    el.append(payload)
    return el


def presence(
    type_: str | None = None, *, to: str | None = None, from_: str | None = None
) -> Element:
    el = Element(PRESENCE)
    if type_ is not None:
        el.set("type", type_)
    if to is not None:
        el.set("to", to)
    if from_ is not None:
        el.set("from", from_)
    return el
