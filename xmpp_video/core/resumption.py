"""Resumable sessions by XEP-0198 resumption id, and the fate of stanzas a session never got.

`Resumption` is the node's table: a session that enabled stream management with resumption is
in it from `<enabled/>` until it ends; `<resume previd/>` on a new stream looks it up (and
checks that the new stream authenticated as the same account). An id that ended is remembered
for a while (`EXPIRED_KEPT` of them) with the session's final ``h``, so that a late resume gets
``<failed h/>`` telling the client which of its stanzas the server had handled.

`undeliverable()` is what happens to each stanza a session was sent (or queued while it
hibernated) and never acknowledged, when the session ends for good — XEP-0198 §5 says to treat
them "in the same way as a stanza sent to an unavailable resource" (RFC 6121 §8.5.3.2.1), and
nothing is dropped silently that a user would miss:

| stanza                                                       | becomes                      |
|--------------------------------------------------------------|------------------------------|
| message chat/normal with a body, JMI, OMEMO, `<store/>` hint | offline storage (or bounced  |
|                                                              | `service-unavailable` when   |
|                                                              | storage refuses: limit)      |
| message carrying only chat states, receipts, markers         | dropped (XEP-0160: offline   |
|                                                              | storage does not keep them)  |
| message error / groupchat / headline                         | dropped (RFC 6121 §8.5.3.2.1)|
| iq get/set                                                   | `service-unavailable` error  |
|                                                              | to the sender                |
| iq result/error, presence                                    | dropped (presence is state:  |
|                                                              | the session going            |
|                                                              | unavailable replaces it)     |
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final
from xml.etree.ElementTree import Element

from xmpp_video.jid import JID
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import IQ, MESSAGE
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply

if TYPE_CHECKING:
    from xmpp_video.core.c2s import C2SStream
    from xmpp_video.core.server import Server

log = logging.getLogger(__name__)

EXPIRED_KEPT: Final = 10_000  # ended ids remembered with their h (some 150 bytes each)
_JMI_PREFIX: Final = f"{{{ns.JMI}}}"
_STORABLE: Final = frozenset(
    (
        "{jabber:client}body",
        "{eu.siacs.conversations.axolotl}encrypted",  # OMEMO (XEP-0384 0.3)
        "{urn:xmpp:omemo:2}encrypted",  # OMEMO 2
        f"{{{ns.HINTS}}}store",  # XEP-0334
    )
)


class Resumption:
    """This node's resumable sessions by resumption id."""

    __slots__ = ("_expired", "_sessions")

    def __init__(self) -> None:
        self._sessions: dict[str, C2SStream] = {}
        self._expired: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def add(self, id_: str, session: C2SStream) -> None:
        self._sessions[id_] = session

    def get(self, id_: str) -> C2SStream | None:
        return self._sessions.get(id_)

    def forget(self, id_: str, bare: str, h: int) -> None:
        """The session of ``id_`` ended: it cannot be resumed any more; its final ``h`` is
        remembered for the same account."""
        self._sessions.pop(id_, None)
        expired = self._expired
        expired[id_] = (bare, h)
        if len(expired) > EXPIRED_KEPT:
            expired.popitem(last=False)

    def final_h(self, id_: str, bare: str) -> int | None:
        """The ``h`` of an ended session of this account, if still remembered."""
        entry = self._expired.get(id_)
        return entry[1] if entry is not None and entry[0] == bare else None

    def __iter__(self) -> Iterator[C2SStream]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def hibernating(self) -> int:
        return sum(1 for session in self._sessions.values() if session.hibernating)


def storable(message: Element) -> bool:
    """Whether a message is worth offline storage (see the module docstring)."""
    return any(child.tag in _STORABLE or child.tag.startswith(_JMI_PREFIX) for child in message)


async def undeliverable(server: Server, owner: JID, stanza: Element) -> None:
    """`stanza` was sent to the session of `owner` (a full JID), which ended without
    acknowledging it: store it offline, bounce it or drop it (see the module docstring)."""
    tag = stanza.tag
    type_ = stanza.get("type")
    if tag == MESSAGE:
        if type_ in ("error", "groupchat", "headline") or not storable(stanza):
            return
        try:
            stored = await server.router.offline_store(stanza, str(owner.bare))
        except Exception:
            log.exception("offline storage failed for %s", owner.bare)
            stored = False
        if stored:
            return
    elif tag != IQ or type_ not in ("get", "set"):
        return
    if stanza.get("from") is None:
        return  # from the account's own server, on its behalf: nobody to tell
    reply = error_reply(stanza, StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE))
    pending = server.router.route(reply, owner, None)
    if pending is not None:
        await pending
