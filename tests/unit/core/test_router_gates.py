"""Router gates (XEP-0191's extension point): asked before routing, in order, sync or async."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from xml.etree.ElementTree import Element

import pytest

from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.registry import LocalRegistry
from xmpp_video.core.router import Router
from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.stanza.builders import MESSAGE, presence
from xmpp_video.stanza.conditions import StreamErrorCondition


class FakeSession(Session):
    def __init__(self, full: str) -> None:
        super().__init__()
        self.bind(JID.parse(full))
        self.presence = presence()
        self.received: list[Element] = []

    def deliver(self, stanza: Element) -> None:
        self.received.append(stanza)

    def close(self, condition: StreamErrorCondition | None = None, text: str = "") -> None:
        self.closed = True


class FakeGate:
    def __init__(self, verdict: bool, *, later: bool = False, withheld: str = "") -> None:
        self.verdict, self.later, self.withheld = verdict, later, withheld
        self.asked: list[str] = []

    def check(
        self, stanza: Element, sender: JID, to: JID, origin: Session | None
    ) -> bool | Awaitable[bool]:
        self.asked.append(str(to))
        if self.later:
            return self._later()
        return self.verdict

    async def _later(self) -> bool:
        await asyncio.sleep(0)
        return self.verdict

    def withholds(self, from_: str, to_full: str) -> bool:
        return to_full == self.withheld


def _router(*sessions: Session) -> Router:
    registry = LocalRegistry()
    for session in sessions:
        registry.add(session)

    async def exists(_bare: str) -> bool:
        return True

    return Router("localhost", registry, IqDispatcher(), Hooks(), exists)


def _message() -> Element:
    message = Element(MESSAGE, {"to": "juliet@localhost/balcony", "type": "chat"})
    message.set("from", "romeo@localhost/phone")
    return message


@pytest.mark.parametrize(
    ("gates", "delivered"),
    [
        ([], True),
        ([FakeGate(False)], True),
        ([FakeGate(True)], False),
        ([FakeGate(False), FakeGate(True)], False),
    ],
)
def test_sync_gates(gates: list[FakeGate], delivered: bool) -> None:
    juliet = FakeSession("juliet@localhost/balcony")
    router = _router(juliet)
    router.gates.extend(gates)

    assert router.route(_message(), JID.parse("romeo@localhost/phone"), None) is None

    assert bool(juliet.received) is delivered


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("gates", "delivered", "asked"),
    [
        ([FakeGate(False, later=True)], True, [1]),
        ([FakeGate(True, later=True), FakeGate(False)], False, [1, 0]),
        ([FakeGate(False, later=True), FakeGate(True)], False, [1, 1]),
        ([FakeGate(False, later=True), FakeGate(False, later=True)], True, [1, 1]),
    ],
)
async def test_async_gates_keep_order(
    gates: list[FakeGate], delivered: bool, asked: list[int]
) -> None:
    juliet = FakeSession("juliet@localhost/balcony")
    router = _router(juliet)
    router.gates.extend(gates)

    pending = router.route(_message(), JID.parse("romeo@localhost/phone"), None)
    assert pending is not None
    assert not juliet.received
    await pending

    assert bool(juliet.received) is delivered
    assert [len(gate.asked) for gate in gates] == asked


def test_presence_the_server_delivers_is_withheld_per_resource() -> None:
    balcony = FakeSession("juliet@localhost/balcony")
    chamber = FakeSession("juliet@localhost/chamber")
    router = _router(balcony, chamber)
    router.gates.append(FakeGate(False, withheld="juliet@localhost/chamber"))

    router.deliver_presence_to_account(presence(from_="romeo@localhost/phone"), "juliet@localhost")

    assert (len(balcony.received), len(chamber.received)) == (1, 0)
    assert router.presence_withheld("romeo@localhost/phone", "juliet@localhost/chamber")
