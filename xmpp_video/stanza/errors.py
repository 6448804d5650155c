"""Stanza errors (RFC 6120 §8.3): the exception handlers raise, and the reply built from it."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StanzaErrorCondition, StanzaErrorType


class StanzaError(Exception):
    """Raised by a handler: the framework answers the stanza with this error."""

    def __init__(
        self,
        condition: StanzaErrorCondition,
        text: str = "",
        *,
        type_: StanzaErrorType | None = None,
        specific: str | None = None,
        specific_attrs: dict[str, str] | None = None,
    ) -> None:
        """``specific``: an application-specific condition element, as a ``{namespace}name``
        tag (e.g. XEP-0050's ``<bad-payload/>``), sent after the defined condition, with the
        attributes ``specific_attrs`` (e.g. XEP-0060's ``<unsupported feature='…'/>``)."""
        super().__init__(f"{condition}: {text}" if text else str(condition))
        self.condition = condition
        self.text = text
        self.type = type_ or condition.default_type
        self.specific = specific
        self.specific_attrs = specific_attrs


def error_element(error: StanzaError) -> Element:
    el = Element("{jabber:client}error", {"type": str(error.type)})
    SubElement(el, f"{{{ns.STANZAS_ERRORS}}}{error.condition}")
    if error.text:
        SubElement(el, f"{{{ns.STANZAS_ERRORS}}}text").text = error.text
    if error.specific is not None:
        SubElement(el, error.specific, error.specific_attrs or {})
    return el


def error_reply(stanza: Element, error: StanzaError) -> Element:
    """The error stanza answering `stanza`: same kind and id, addresses swapped, payload kept
    for messages and presence as RFC 6120 §8.3.1 allows, dropped for iq."""
    reply = Element(stanza.tag, {"type": "error"})
    for attr, swapped in (("id", "id"), ("from", "to"), ("to", "from")):
        value = stanza.get(attr)
        if value is not None:
            reply.set(swapped, value)
    if stanza.tag != "{jabber:client}iq":
        reply.extend(child for child in stanza if child.tag != "{jabber:client}error")
    reply.append(error_element(error))
    return reply
