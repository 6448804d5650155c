"""Which stanzas wake a device with a push notification (XEP-0357), and how urgently. [pure]

`classify` looks at a message a device would have received, had it been connected:

* a Jingle Message Initiation (XEP-0353) ``propose`` → `WakeKind.CALL` (notified at once, high
  priority); ``retract``, ``reject``, ``accept`` or ``proceed`` → `WakeKind.CALL_ENDED` (the
  phone may stop ringing: the caller gave up, or the call was answered or refused elsewhere);
  ``ringing`` and ``finish`` wake nobody;
* a message with a non-empty ``<body>`` or an end-to-end encrypted payload (OMEMO, OpenPGP) →
  `WakeKind.MESSAGE`;
* carbon copies (XEP-0280): a ``<received/>`` copy is judged by the message it forwards; a
  ``<sent/>`` copy (the user's own other device wrote it) wakes only for the end of a call
  (the user accepted or refused it on another device);
* anything else (errors, groupchat, headlines, chat states, receipts, presence, iqs) → None.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from xml.etree.ElementTree import Element

from xmpp_video.stanza.builders import MESSAGE
from xmpp_video.stanza.namespaces import CARBONS

JMI: Final = "urn:xmpp:jingle-message:0"
FORWARDED: Final = "{urn:xmpp:forward:0}forwarded"
BODY: Final = "{jabber:client}body"
CARBON_RECEIVED: Final = f"{{{CARBONS}}}received"
CARBON_SENT: Final = f"{{{CARBONS}}}sent"
ENCRYPTED: Final = frozenset(
    (
        "{eu.siacs.conversations.axolotl}encrypted",  # OMEMO 0.3 (Conversations, Monal, Dino)
        "{urn:xmpp:omemo:2}encrypted",  # OMEMO 0.8+
        "{urn:xmpp:openpgp:0}openpgp",  # XEP-0373
        "{jabber:x:encrypted}x",  # XEP-0027
    )
)
CALL_ENDS: Final = frozenset(("retract", "reject", "accept", "proceed"))


class WakeKind(StrEnum):
    MESSAGE = "message"
    CALL = "call"  # a JMI propose: ring now
    CALL_ENDED = "call-ended"  # retract / reject / accept / proceed: stop ringing


@dataclass(frozen=True, slots=True)
class Wake:
    """Why a device is woken: ``sender`` is who wrote the message (as stamped, may be a full
    JID); ``call_id`` and ``action`` (the JMI element's name) for the two call kinds."""

    kind: WakeKind
    sender: str
    call_id: str = ""
    action: str = ""


def classify(stanza: Element) -> Wake | None:
    """Whether, and why, `stanza` (a routed message) wakes a push-enabled device."""
    if stanza.tag != MESSAGE or stanza.get("type") in ("error", "groupchat", "headline"):
        return None
    for child in stanza:
        tag = child.tag
        if tag in (CARBON_RECEIVED, CARBON_SENT):
            inner = _forwarded(child)
            if inner is None:
                return None
            wake = classify(inner)
            if wake is not None and tag == CARBON_SENT and wake.kind is not WakeKind.CALL_ENDED:
                return None
            return wake
    sender = stanza.get("from", "")
    important = False
    for child in stanza:
        tag = child.tag
        if tag.startswith("{" + JMI + "}"):
            action = tag[len(JMI) + 2 :]
            call_id = child.get("id", "")
            if action == "propose" and call_id:
                return Wake(WakeKind.CALL, sender, call_id, action)
            if action in CALL_ENDS and call_id:
                return Wake(WakeKind.CALL_ENDED, sender, call_id, action)
            return None
        if (tag == BODY and (child.text or "").strip()) or tag in ENCRYPTED:
            important = True
    return Wake(WakeKind.MESSAGE, sender) if important else None


def _forwarded(carbon: Element) -> Element | None:
    forwarded = carbon.find(FORWARDED)
    if forwarded is None:
        return None
    return forwarded.find(MESSAGE)
