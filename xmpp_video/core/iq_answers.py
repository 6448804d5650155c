"""Answers to iqs the server itself sent, waited for by id.

The core dispatches only iq ``get``/``set``; a ``result`` or ``error`` addressed to the server
(or to an account's bare JID on the server's behalf) would be routed and dropped. A module that
sends iqs and awaits their answers (PEP asking a client for its caps, push publishing to an
app server) subclasses `IqAnswers` and puts itself in the router as a gate
(`core.router.Gate`): it takes an iq result or error whose id it waits for and whose sender is
the JID it asked (or that JID's bare form), and lets everything else pass untouched. Cost for
other stanzas: one truth test while nothing is pending, one tag compare and one dict lookup
otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from xml.etree.ElementTree import Element

from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.stanza.builders import IQ


class IqAnswers:
    def __init__(self) -> None:
        # iq id -> (the JID asked, the future its answer completes)
        self._pending: dict[str, tuple[str, asyncio.Future[Element]]] = {}

    def __len__(self) -> int:
        """How many answers are awaited."""
        return len(self._pending)

    def _expect(self, id_: str, asked: str) -> asyncio.Future[Element]:
        """The future that the answer with this id from ``asked`` will complete; call
        `_forget` when done with it (answered, timed out or cancelled)."""
        future: asyncio.Future[Element] = asyncio.get_running_loop().create_future()
        self._pending[id_] = (asked, future)
        return future

    def _forget(self, id_: str) -> None:
        self._pending.pop(id_, None)

    # -- core.router.Gate ------------------------------------------------------------------

    def check(
        self, stanza: Element, sender: JID, to: JID, origin: Session | None
    ) -> bool | Awaitable[bool]:
        if not self._pending or stanza.tag != IQ:
            return False
        waiting = self._pending.get(stanza.get("id", ""))
        if waiting is None or stanza.get("type") not in ("result", "error"):
            return False
        asked, future = waiting
        if str(sender) != asked and str(sender.bare) != asked:
            return False
        if not future.done():
            future.set_result(stanza)
        return True

    def withholds(self, from_: str, to_full: str) -> bool:
        return False
