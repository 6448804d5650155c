"""Iqs the server sends to a client and awaits the answer of (``ServerRequests.request``).

The core dispatches only iq ``get``/``set``; an answer (``result``/``error``) addressed to the
server is routed and dropped. To see the answers it waits for, this object sits in the router
as a gate (`core.router.Gate`): it takes an iq result or error whose id it is waiting for and
whose sender is the JID it asked, and lets everything else pass untouched (one tag and one dict
lookup per stanza while something is pending, one truth test otherwise).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from xml.etree.ElementTree import Element

from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.stanza.builders import IQ, iq


class RequestFailed(Exception):
    """The client answered with an error, or not in time."""


class ServerRequests:
    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._pending: dict[str, tuple[str, asyncio.Future[Element]]] = {}

    async def request(self, session: Session, payload: Element, timeout: float) -> Element:
        """Send an iq get with `payload` from the server to `session`; the answer's payload
        (the iq itself when it has none). Raises `RequestFailed` on an error answer or when
        none comes within `timeout` seconds."""
        id_ = "pep-" + secrets.token_hex(8)
        future: asyncio.Future[Element] = asyncio.get_running_loop().create_future()
        self._pending[id_] = (session.full, future)
        try:
            session.deliver(iq("get", to=session.full, from_=self.domain, id_=id_, payload=payload))
            async with asyncio.timeout(timeout):
                answer = await future
        except TimeoutError:
            raise RequestFailed(f"no answer from {session.full}") from None
        finally:
            self._pending.pop(id_, None)
        if answer.get("type") != "result":
            raise RequestFailed(f"{session.full} answered with an error")
        return answer[0] if len(answer) else answer

    def __len__(self) -> int:
        return len(self._pending)

    # -- core.router.Gate ------------------------------------------------------------------

    def check(
        self, stanza: Element, sender: JID, to: JID, origin: Session | None
    ) -> bool | Awaitable[bool]:
        if not self._pending or stanza.tag != IQ:
            return False
        waiting = self._pending.get(stanza.get("id", ""))
        if waiting is None or stanza.get("type") not in ("result", "error"):
            return False
        full, future = waiting
        if str(sender) != full:
            return False
        if not future.done():
            future.set_result(stanza)
        return True

    def withholds(self, from_: str, to_full: str) -> bool:
        return False
