"""JMI messages (XEP-0353) and Jingle iqs (XEP-0166) read as call signals. Pure.

Only the envelope and the call-relevant attributes are read (kind, call id = JMI id = Jingle
sid, reason, media); the payload itself is the clients' business and passes through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from xml.etree.ElementTree import Element

from xmpp_video.stanza import namespaces as ns

_JMI: Final = "{" + ns.JMI + "}"
_JINGLE: Final = "{" + ns.JINGLE + "}"
_RTP_DESCRIPTION: Final = "{" + ns.JINGLE_RTP + "}description"
MAX_CALL_ID = 128


class SignalKind(StrEnum):
    PROPOSE = "propose"
    RINGING = "ringing"
    PROCEED = "proceed"
    ACCEPT = "accept"
    REJECT = "reject"
    RETRACT = "retract"
    FINISH = "finish"
    SESSION_INITIATE = "session-initiate"
    SESSION_ACCEPT = "session-accept"
    SESSION_TERMINATE = "session-terminate"


JMI_KINDS: Final = frozenset(
    {
        SignalKind.PROPOSE,
        SignalKind.RINGING,
        SignalKind.PROCEED,
        SignalKind.ACCEPT,
        SignalKind.REJECT,
        SignalKind.RETRACT,
        SignalKind.FINISH,
    }
)
JINGLE_ACTIONS: Final = frozenset(
    {SignalKind.SESSION_INITIATE, SignalKind.SESSION_ACCEPT, SignalKind.SESSION_TERMINATE}
)


@dataclass(frozen=True, slots=True)
class Signal:
    """One call-relevant stanza. ``sender`` and ``to`` are as stamped/addressed (full or bare
    JIDs); ``reason`` is the Jingle reason condition (``decline``, ``busy``, ``success``…);
    ``media`` the RTP media of a propose or session-initiate (``audio``, ``video``)."""

    kind: SignalKind
    call_id: str
    sender: str
    to: str
    reason: str | None = None
    media: frozenset[str] = frozenset()


def _reason(el: Element) -> str | None:
    reason = el.find(_JINGLE + "reason")
    if reason is None:
        return None
    for child in reason:
        if child.tag.startswith(_JINGLE) and child.tag != _JINGLE + "text":
            return child.tag[len(_JINGLE) :]
    return None


def _media(el: Element) -> frozenset[str]:
    return frozenset(
        media for d in el.iter(_RTP_DESCRIPTION) if (media := d.get("media")) in ("audio", "video")
    )


def _call_id(value: str | None) -> str | None:
    if not value or len(value) > MAX_CALL_ID:
        return None
    return value


def from_message(stanza: Element, sender: str, to: str) -> Signal | None:
    """The JMI signal a message carries, if any (errors carry none)."""
    if stanza.get("type") == "error":
        return None
    for child in stanza:
        tag = child.tag
        if not tag.startswith(_JMI):
            continue
        try:
            kind = SignalKind(tag[len(_JMI) :])
        except ValueError:
            return None
        call_id = _call_id(child.get("id"))
        if call_id is None or kind not in JMI_KINDS:
            return None
        return Signal(kind, call_id, sender, to, _reason(child), _media(child))
    return None


def from_iq(stanza: Element, sender: str, to: str) -> Signal | None:
    """The Jingle session signal an iq set carries, if it is one the call follows."""
    if stanza.get("type") != "set":
        return None
    jingle = stanza.find(_JINGLE + "jingle")
    if jingle is None:
        return None
    try:
        kind = SignalKind(jingle.get("action", ""))
    except ValueError:
        return None
    call_id = _call_id(jingle.get("sid"))
    if call_id is None or kind not in JINGLE_ACTIONS:
        return None
    return Signal(kind, call_id, sender, to, _reason(jingle), _media(jingle))
