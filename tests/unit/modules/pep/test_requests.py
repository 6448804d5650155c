"""ServerRequests: iqs the server sends, answered through the router gate."""

from __future__ import annotations

import asyncio
from xml.etree.ElementTree import Element

import pytest

from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.modules.pep.requests import RequestFailed, ServerRequests
from xmpp_video.stanza.builders import IQ, MESSAGE
from xmpp_video.stanza.conditions import StreamErrorCondition

pytestmark = pytest.mark.asyncio

FULL = "juliet@localhost/balcony"


class FakeSession(Session):
    def __init__(self) -> None:
        super().__init__()
        self.bind(JID.parse(FULL))
        self.sent: list[Element] = []

    def deliver(self, stanza: Element) -> None:
        self.sent.append(stanza)

    def close(self, condition: StreamErrorCondition | None = None, text: str = "") -> None:
        self.closed = True


def answer(request: Element, type_: str = "result", sender: str = FULL) -> tuple[Element, JID]:
    reply = Element(IQ, {"type": type_, "id": request.get("id", ""), "to": "localhost"})
    reply.append(Element("{urn:x}answer"))
    return reply, JID.parse(sender)


async def test_the_answer_is_taken_by_the_gate() -> None:
    requests, session = ServerRequests("localhost"), FakeSession()
    asking = asyncio.ensure_future(requests.request(session, Element("{urn:x}q"), 5))
    await asyncio.sleep(0)
    (sent,) = session.sent
    assert (sent.get("to"), sent.get("from"), sent.get("type")) == (FULL, "localhost", "get")
    to = JID.parse("localhost")
    stranger, stranger_jid = answer(sent, sender="iago@localhost/x")
    assert requests.check(stranger, stranger_jid, to, None) is False  # not who was asked
    assert (
        requests.check(Element(MESSAGE, {"id": sent.get("id", "")}), stranger_jid, to, None)
        is False
    )
    reply, sender = answer(sent)
    assert requests.check(reply, sender, to, None) is True
    assert (await asyncio.wait_for(asking, 1)).tag == "{urn:x}answer"
    assert len(requests) == 0
    assert requests.check(reply, sender, to, None) is False  # nothing pending any more


async def test_an_error_or_silence_fails() -> None:
    requests, session = ServerRequests("localhost"), FakeSession()
    asking = asyncio.ensure_future(requests.request(session, Element("{urn:x}q"), 5))
    await asyncio.sleep(0)
    reply, sender = answer(session.sent[0], "error")
    assert requests.check(reply, sender, JID.parse("localhost"), None) is True
    with pytest.raises(RequestFailed):
        await asking
    with pytest.raises(RequestFailed):
        await requests.request(session, Element("{urn:x}q"), 0.05)
    assert len(requests) == 0
