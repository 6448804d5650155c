"""Domain routes (XEP-0114 components' extension point of the router): stanzas to a domain
with a route go to it; replies the server writes to such a domain too; local traffic and other
domains are as before."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest

from tests.unit.core.test_router_gates import FakeSession
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.registry import LocalRegistry
from xmpp_video.core.router import Router
from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.stanza.builders import IQ, MESSAGE, PRESENCE


def _router(*sessions: Session) -> Router:
    registry = LocalRegistry()
    for session in sessions:
        registry.add(session)

    async def exists(_bare: str) -> bool:
        return True

    return Router("localhost", registry, IqDispatcher(), Hooks(), exists)


class FakeRoute:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, Session | None]] = []

    def __call__(self, stanza: Element, to: JID, origin: Session | None) -> None:
        self.got.append((stanza.tag, str(to), origin))


@pytest.mark.parametrize("tag", [MESSAGE, PRESENCE, IQ])
@pytest.mark.parametrize("to", ["gw.localhost", "bot@gw.localhost", "bot@GW.localhost/r"])
def test_stanzas_to_a_routed_domain_go_to_its_route(tag: str, to: str) -> None:
    romeo = FakeSession("romeo@localhost/phone")
    router = _router(romeo)
    route = router.domain_routes["gw.localhost"] = FakeRoute()
    stanza = Element(tag, {"to": to, "type": "get" if tag == IQ else "chat", "id": "1"})
    stanza.set("from", romeo.full)

    assert router.route(stanza, JID.parse(romeo.full), romeo) is None

    assert route.got == [(tag, str(JID.parse(to)), romeo)]
    assert romeo.received == []


def test_other_domains_are_answered_as_before() -> None:
    romeo = FakeSession("romeo@localhost/phone")
    router = _router(romeo)
    route = router.domain_routes["gw.localhost"] = FakeRoute()
    message = Element(MESSAGE, {"to": "x@elsewhere.example", "type": "chat"})
    message.set("from", romeo.full)

    router.route(message, JID.parse(romeo.full), romeo)

    assert route.got == []
    assert [el.get("type") for el in romeo.received] == ["error"]
    assert "remote-server-not-found" in romeo.received[0][-1][0].tag


def test_replies_deliver_to_cannot_place_go_to_the_route() -> None:
    romeo = FakeSession("romeo@localhost/phone")
    router = _router(romeo)
    route = router.domain_routes["gw.localhost"] = FakeRoute()

    router.deliver_to(Element(IQ, {"to": "bot@gw.localhost/r", "type": "result"}))
    router.deliver_to(Element(IQ, {"to": romeo.full, "type": "result"}))
    router.deliver_to(Element(IQ, {"to": "nobody@localhost/x", "type": "result"}))
    router.deliver_to(Element(IQ, {"to": "bad@@jid", "type": "result"}))

    assert route.got == [(IQ, "bot@gw.localhost/r", None)]
    assert len(romeo.received) == 1


def test_a_component_reaches_local_users() -> None:
    juliet = FakeSession("juliet@localhost/balcony")
    router = _router(juliet)
    router.domain_routes["gw.localhost"] = FakeRoute()
    message = Element(MESSAGE, {"to": juliet.full, "from": "bot@gw.localhost", "type": "chat"})

    assert router.route(message, JID.parse("bot@gw.localhost"), None) is None

    assert juliet.received == [message]
