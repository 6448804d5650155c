"""XEP-0352 Client State Indication (``urn:xmpp:csi:0``): what an inactive client can wait for.

Pure.

While a client says it is ``<inactive/>`` (a phone with the screen off), the server holds back
what only updates what the user would see when looking, and collapses it:

* presence updates (available and unavailable, no ``type`` or ``type='unavailable'``): the
  latest per sender full JID;
* messages that carry only chat states (XEP-0085, with at most a thread, hints, stanza ids or
  a delay besides), also as carbons: the latest per conversation partner full JID.

Everything else goes at once: messages with a body, JMI call messages (XEP-0353), encrypted
messages (OMEMO), receipts and markers, subscription requests and other presence types, iqs,
errors. A message with a body drops the chat state held for the same conversation (it supersedes
it: a held ``composing`` must not show up after the message it announced).

On ``<active/>`` the held stanzas are flushed in the order of their latest update. The buffer is
bounded (``CSI_QUEUE_LIMIT`` keys): past it, new keys are not held but sent.
"""

from __future__ import annotations

from typing import Final
from xml.etree.ElementTree import Element

from xmpp_video.stanza import namespaces as ns

NS: Final = "urn:xmpp:csi:0"
ACTIVE: Final = f"{{{NS}}}active"
INACTIVE: Final = f"{{{NS}}}inactive"
FEATURE: Final = f"{{{NS}}}csi"

_MESSAGE: Final = "{jabber:client}message"
_PRESENCE: Final = "{jabber:client}presence"
_CHATSTATES: Final = "{http://jabber.org/protocol/chatstates}"
_CARBON_COPIES: Final = frozenset(("{urn:xmpp:carbons:2}sent", "{urn:xmpp:carbons:2}received"))
_FORWARDED: Final = "{urn:xmpp:forward:0}forwarded"
_BODY: Final = "{jabber:client}body"
_CARBON_SENT: Final = "{urn:xmpp:carbons:2}sent"
# besides chat states, what a chat-state notification may carry and still be only that
_NOISE: Final = frozenset(
    (
        "{jabber:client}thread",
        f"{{{ns.HINTS}}}no-store",
        f"{{{ns.HINTS}}}no-permanent-store",
        f"{{{ns.HINTS}}}no-copy",
        "{urn:xmpp:sid:0}stanza-id",
        "{urn:xmpp:sid:0}origin-id",
        f"{{{ns.DELAY}}}delay",
    )
)


_OTHER, _STATES, _BODY_FOUND = 0, 1, 2


def _kind(message: Element) -> int:
    """_STATES: only chat states (and noise); _BODY_FOUND: has a body; _OTHER: anything else."""
    states = False
    other = False
    for child in message:
        tag = child.tag
        if tag == _BODY:
            return _BODY_FOUND
        if tag.startswith(_CHATSTATES):
            states = True
        elif tag not in _NOISE:
            other = True
    return _STATES if states and not other else _OTHER


def _conversation(message: Element) -> tuple[str, Element]:
    """The partner of the conversation a message belongs to (unwrapping a carbon copy), and
    the message itself."""
    if len(message) == 1 and message[0].tag in _CARBON_COPIES:
        forwarded = message[0].find(_FORWARDED)
        inner = forwarded.find(_MESSAGE) if forwarded is not None else None
        if inner is not None:
            partner = inner.get("to" if message[0].tag == _CARBON_SENT else "from", "")
            return partner, inner
    return message.get("from", ""), message


class CsiBuffer:
    """What an inactive client has not been sent yet, keyed so that later updates replace
    earlier ones. ``hold(stanza)`` says whether to send now."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: dict[tuple[str, str], Element] = {}

    def __len__(self) -> int:
        return len(self.held)

    def hold(self, stanza: Element) -> bool:
        """True: kept for later (replacing an older update with the same key); False: the
        caller sends it now."""
        tag = stanza.tag
        if tag == _PRESENCE:
            type_ = stanza.get("type")
            if type_ is not None and type_ != "unavailable":
                return False
            key = ("presence", stanza.get("from", ""))
        elif tag == _MESSAGE:
            if stanza.get("type") == "error":
                return False
            partner, message = _conversation(stanza)
            key = ("chat", partner)
            kind = _kind(message)
            if kind != _STATES:
                if kind == _BODY_FOUND and self.held:
                    self.held.pop(key, None)  # a message ends the typing it announced
                return False
        else:
            return False
        held = self.held
        if key in held:
            del held[key]  # re-inserted below: flushed in the order of the latest updates
        elif len(held) >= self.limit:
            return False
        held[key] = stanza
        return True

    def flush(self) -> list[Element]:
        """Everything held, oldest latest-update first; the buffer is empty afterwards."""
        stanzas = list(self.held.values())
        self.held.clear()
        return stanzas
