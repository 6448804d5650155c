"""XEP-0357 payloads: the ``<enable/>`` and ``<disable/>`` requests, and the publish the server
sends to an app server. [pure]

Requests (to the account's own bare JID, from a bound client) and their answers:

* ``<enable jid node>``: ``jid`` missing → bad-request; not a JID → jid-malformed; ``node``
  missing or empty → bad-request (nothing could be published without it); longer than
  `MAX_NODE` → not-acceptable. At most one ``<x xmlns='jabber:x:data'/>`` child, whose
  FORM_TYPE must be ``http://jabber.org/protocol/pubsub#publish-options`` (else bad-request);
  its other fields (at most `MAX_OPTION_FIELDS`, each with a ``var``) are kept and sent back
  as publish-options in every publish (e.g. the app server's ``secret``).
* ``<disable jid [node]>``: ``jid`` missing → bad-request; not a JID → jid-malformed. Without
  ``node`` every registration of that app server goes.
* An app server may disable a registration itself (§8) with a message to the account
  (`affiliation_removed`).

The publish (`publish_iq`)::

    <iq type='set' from='owner bare JID' to='app server' id='push-…'>
      <pubsub xmlns='http://jabber.org/protocol/pubsub'>
        <publish node='…'><item><notification xmlns='urn:xmpp:push:0'>
          <x xmlns='jabber:x:data' type='submit'>
            FORM_TYPE urn:xmpp:push:summary, message-count, last-message-sender (bare JID),
            last-message-priority (high | normal), and for calls x-call-action, x-call-id
          </x></notification></item></publish>
        <publish-options><x …>FORM_TYPE …#publish-options, the stored fields</x></publish-options>
      </pubsub></iq>

No message body is ever included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.jid import JID, InvalidJID
from xmpp_video.stanza.builders import iq
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.stanza.namespaces import DATA, PUBLISH_OPTIONS, PUBSUB
from xmpp_video.storage.push import PublishOptions

PUSH: Final = "urn:xmpp:push:0"
ENABLE: Final = f"{{{PUSH}}}enable"
DISABLE: Final = f"{{{PUSH}}}disable"
NOTIFICATION: Final = f"{{{PUSH}}}notification"
SUMMARY: Final = "urn:xmpp:push:summary"
FORM: Final = f"{{{DATA}}}x"
FIELD: Final = f"{{{DATA}}}field"
VALUE: Final = f"{{{DATA}}}value"
FORM_TYPE: Final = "FORM_TYPE"

MAX_NODE: Final = 1023  # storage.models.PUSH_NODE_LENGTH
MAX_OPTION_FIELDS: Final = 32

# summary form fields beyond XEP-0357's (XEP-0068: unregistered names start with "x-")
PRIORITY_FIELD: Final = "last-message-priority"
CALL_ACTION_FIELD: Final = "x-call-action"
CALL_ID_FIELD: Final = "x-call-id"


@dataclass(frozen=True, slots=True)
class EnableRequest:
    service: str
    node: str
    options: PublishOptions


@dataclass(frozen=True, slots=True)
class DisableRequest:
    service: str
    node: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    """What one notification tells the app server (never a body)."""

    message_count: int
    last_sender: str  # bare JID, "" when unknown
    high_priority: bool
    call_action: str = ""  # a JMI element name, for call notifications
    call_id: str = ""


def _bad(
    text: str, condition: StanzaErrorCondition = StanzaErrorCondition.BAD_REQUEST
) -> StanzaError:
    return StanzaError(condition, text)


def _service(payload: Element) -> str:
    raw = payload.get("jid")
    if not raw:
        raise _bad("the app server's jid is required")
    try:
        return str(JID.parse(raw))
    except InvalidJID:
        raise _bad("not a JID", StanzaErrorCondition.JID_MALFORMED) from None


def parse_enable(payload: Element) -> EnableRequest:
    """The ``<enable/>`` element's request; raises `StanzaError` as the module docstring says."""
    service = _service(payload)
    node = payload.get("node", "")
    if not node:
        raise _bad("a node is required")
    if len(node) > MAX_NODE:
        raise _bad("node too long", StanzaErrorCondition.NOT_ACCEPTABLE)
    forms = [child for child in payload if child.tag == FORM]
    if len(forms) > 1:
        raise _bad("at most one publish-options form")
    options = _publish_options(forms[0]) if forms else ()
    return EnableRequest(service, node, options)


def parse_disable(payload: Element) -> DisableRequest:
    return DisableRequest(_service(payload), payload.get("node") or None)


def affiliation_removed(stanza: Element, owner: str) -> str | None:
    """The node an app server stopped accepting `owner`'s notifications on (XEP-0357 §8:
    ``<message><pubsub xmlns=pubsub node='…'><affiliation jid=owner affiliation='none'/>``),
    None when `stanza` says nothing of the kind."""
    pubsub = stanza.find(f"{{{PUBSUB}}}pubsub")
    if pubsub is None:
        return None
    node = pubsub.get("node")
    for affiliation in pubsub.findall(f"{{{PUBSUB}}}affiliation"):
        if affiliation.get("affiliation") == "none" and affiliation.get("jid") == owner and node:
            return node
    return None


def _publish_options(form: Element) -> PublishOptions:
    fields: list[tuple[str, tuple[str, ...]]] = []
    form_type: tuple[str, ...] = ()
    for field in form.findall(FIELD):
        var = field.get("var")
        if not var:
            raise _bad("a publish-options field without var")
        values = tuple(value.text or "" for value in field.findall(VALUE))
        if var == FORM_TYPE:
            form_type = values
        else:
            fields.append((var, values))
    if form_type != (PUBLISH_OPTIONS,):
        raise _bad(f"the form's FORM_TYPE must be {PUBLISH_OPTIONS}")
    if len(fields) > MAX_OPTION_FIELDS:
        raise _bad("too many publish-options fields", StanzaErrorCondition.NOT_ACCEPTABLE)
    return tuple(fields)


def _form(form_type: str, fields: PublishOptions) -> Element:
    form = Element(FORM, {"type": "submit"})
    for var, values in ((FORM_TYPE, (form_type,)), *fields):
        field = SubElement(form, FIELD, {"var": var})
        for value in values:
            SubElement(field, VALUE).text = value
    return form


def summary_fields(summary: Summary) -> PublishOptions:
    fields: list[tuple[str, tuple[str, ...]]] = [("message-count", (str(summary.message_count),))]
    if summary.last_sender:
        fields.append(("last-message-sender", (summary.last_sender,)))
    fields.append((PRIORITY_FIELD, ("high" if summary.high_priority else "normal",)))
    if summary.call_action:
        fields.append((CALL_ACTION_FIELD, (summary.call_action,)))
        fields.append((CALL_ID_FIELD, (summary.call_id,)))
    return tuple(fields)


def publish_iq(
    *, owner: str, service: str, node: str, options: PublishOptions, summary: Summary, id_: str
) -> Element:
    """The pubsub publish of one notification (see the module docstring)."""
    pubsub = Element(f"{{{PUBSUB}}}pubsub")
    publish = SubElement(pubsub, f"{{{PUBSUB}}}publish", {"node": node})
    item = SubElement(publish, f"{{{PUBSUB}}}item")
    notification = SubElement(item, NOTIFICATION)
    notification.append(_form(SUMMARY, summary_fields(summary)))
    if options:
        SubElement(pubsub, f"{{{PUBSUB}}}publish-options").append(_form(PUBLISH_OPTIONS, options))
    return iq("set", to=service, from_=owner, id_=id_, payload=pubsub)
