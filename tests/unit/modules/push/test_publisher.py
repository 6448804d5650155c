"""Publishes and their answers (xmpp_video.modules.push.publisher), with a fake router."""

from __future__ import annotations

import asyncio
from xml.etree.ElementTree import Element

import pytest

from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.modules.push.publisher import Outcome, Publisher, new_id
from xmpp_video.stanza.builders import iq

pytestmark = pytest.mark.asyncio
APP = "app@push.example/x"


class FakeRouter:
    def __init__(self) -> None:
        self.routed: list[Element] = []

    def route(self, stanza: Element, sender: JID, origin: Session | None) -> None:
        assert str(sender) == stanza.get("from")
        self.routed.append(stanza)


def publish(to: str = APP) -> Element:
    return iq("set", to=to, from_="juliet@capulet.lit", id_=new_id(), payload=Element("x"))


def answer(publisher: Publisher, request: Element, type_: str, from_: str = APP) -> bool:
    """Feed the gate the answer to `request`; whether it took it."""
    reply = Element("{jabber:client}iq", {"type": type_, "id": request.get("id", "")})
    taken = publisher.check(reply, JID.parse(from_), JID.parse("juliet@capulet.lit"), None)
    assert isinstance(taken, bool)
    return taken


async def test_answers_timeouts_and_the_limit() -> None:
    router = FakeRouter()
    publisher = Publisher(router, timeout=0.2, limit=2)
    first = asyncio.ensure_future(publisher.publish(publish()))
    second = asyncio.ensure_future(publisher.publish(publish()))
    await asyncio.sleep(0)
    assert len(publisher) == 2
    assert await publisher.publish(publish()) is Outcome.SKIPPED  # the limit: not even routed
    assert len(router.routed) == 2

    one, two = router.routed
    # not from the app server
    assert not answer(publisher, one, "result", from_="mallory@evil.example")
    assert not answer(publisher, one, "set")  # not an answer
    assert answer(publisher, one, "result")
    assert answer(publisher, two, "error")
    assert await first is Outcome.DELIVERED
    assert await second is Outcome.FAILED
    assert len(publisher) == 0
    assert not answer(publisher, one, "result")  # nothing pending any more: passes on

    assert await publisher.publish(publish()) is Outcome.TIMED_OUT
    assert len(publisher) == 0


async def test_a_component_domain_as_app_server() -> None:
    router = FakeRouter()
    publisher = Publisher(router, timeout=1.0, limit=10)
    pending = asyncio.ensure_future(publisher.publish(publish(to="push.example")))
    await asyncio.sleep(0)
    assert answer(publisher, router.routed[0], "result", from_="push.example")
    assert await pending is Outcome.DELIVERED
