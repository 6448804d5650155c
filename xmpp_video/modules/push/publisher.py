"""Sending publishes to app servers and telling how each went (XEP-0357 §7).

A publish is an iq ``set`` from the account's bare JID, routed like any stanza (so the app
server may be a local account's resource, a component, or a remote JID the router bounces).
Its answer comes back to the account's bare JID, where the core would drop it: this object
sits in the router as a gate (`core.router.Gate`) and takes the ``result`` or ``error`` whose
id it waits for and whose sender is the app server it asked. Cost for other stanzas: one truth
test while nothing is pending, one tag compare and one dict lookup otherwise.

`publish` returns an `Outcome` and never raises for the app server's sake. No answer within
the timeout is a failure too; so is every answer the server itself writes on the app server's
behalf — an error for an unknown local resource or a domain it cannot reach, the answer of an
iq handler when the app server is a local *bare* JID — since the core hands those to the
account's bare JID, where no session takes them, instead of routing them back here. A local
account serving as app server is therefore addressed by a full JID (its resource answers).
At most ``limit`` publishes wait at once; one more is `Outcome.SKIPPED` at once (the caller
keeps its count for the next notification).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from enum import StrEnum
from typing import Protocol
from xml.etree.ElementTree import Element

from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.stanza.builders import IQ


class Outcome(StrEnum):
    DELIVERED = "delivered"  # the app server answered with a result
    FAILED = "failed"  # an error answer
    TIMED_OUT = "timed-out"  # no answer in time
    SKIPPED = "skipped"  # too many publishes waiting: not sent


class Routes(Protocol):
    """What the publisher needs of `core.router.Router`."""

    def route(
        self, stanza: Element, sender: JID, origin: Session | None
    ) -> Awaitable[None] | None: ...


def new_id() -> str:
    return "push-" + secrets.token_hex(8)


class Publisher:
    def __init__(self, router: Routes, timeout: float, limit: int) -> None:
        self.router = router
        self.timeout = timeout
        self.limit = limit
        self._pending: dict[str, tuple[str, asyncio.Future[Element]]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    async def publish(self, stanza: Element) -> Outcome:
        """Route the publish iq `stanza` (``from``: the owner's bare JID, ``to``: the app
        server, ``id``: from `new_id`) and wait for its answer."""
        if len(self._pending) >= self.limit:
            return Outcome.SKIPPED
        id_ = stanza.get("id", "")
        owner = JID.parse(stanza.get("from", ""))
        future: asyncio.Future[Element] = asyncio.get_running_loop().create_future()
        self._pending[id_] = (stanza.get("to", ""), future)
        try:
            async with asyncio.timeout(self.timeout):
                routing = self.router.route(stanza, owner, None)
                if routing is not None:
                    await routing
                answer = await future
        except TimeoutError:
            return Outcome.TIMED_OUT
        finally:
            self._pending.pop(id_, None)
        return Outcome.DELIVERED if answer.get("type") == "result" else Outcome.FAILED

    # -- core.router.Gate ------------------------------------------------------------------

    def check(
        self, stanza: Element, sender: JID, to: JID, origin: Session | None
    ) -> bool | Awaitable[bool]:
        if not self._pending or stanza.tag != IQ:
            return False
        waiting = self._pending.get(stanza.get("id", ""))
        if waiting is None or stanza.get("type") not in ("result", "error"):
            return False
        service, future = waiting
        if str(sender) != service and str(sender.bare) != service:
            return False
        if not future.done():
            future.set_result(stanza)
        return True

    def withholds(self, from_: str, to_full: str) -> bool:
        return False
