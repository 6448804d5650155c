"""Sending publishes to app servers and telling how each went (XEP-0357 §7).

A publish is an iq ``set`` from the account's bare JID, routed like any stanza (so the app
server may be a local account's resource, a component, or a remote JID the router bounces).
Its answer comes back to the account's bare JID, where the core would drop it: this object
sits in the router as a gate (`core.iq_answers.IqAnswers`) and takes the ``result`` or
``error`` whose id it waits for and whose sender is the app server it asked.

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

from xmpp_video.core.iq_answers import IqAnswers
from xmpp_video.core.session import Session
from xmpp_video.jid import JID


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


class Publisher(IqAnswers):
    def __init__(self, router: Routes, timeout: float, limit: int) -> None:
        super().__init__()
        self.router = router
        self.timeout = timeout
        self.limit = limit

    async def publish(self, stanza: Element) -> Outcome:
        """Route the publish iq `stanza` (``from``: the owner's bare JID, ``to``: the app
        server, ``id``: from `new_id`) and wait for its answer."""
        if len(self) >= self.limit:
            return Outcome.SKIPPED
        id_ = stanza.get("id", "")
        owner = JID.parse(stanza.get("from", ""))
        future = self._expect(id_, stanza.get("to", ""))
        try:
            async with asyncio.timeout(self.timeout):
                routing = self.router.route(stanza, owner, None)
                if routing is not None:
                    await routing
                answer = await future
        except TimeoutError:
            return Outcome.TIMED_OUT
        finally:
            self._forget(id_)
        return Outcome.DELIVERED if answer.get("type") == "result" else Outcome.FAILED
