"""Iqs the server sends to a client and awaits the answer of (``ServerRequests.request``);
the answers are taken from the router by `core.iq_answers.IqAnswers`.
"""

from __future__ import annotations

import asyncio
import secrets
from xml.etree.ElementTree import Element

from xmpp_video.core.iq_answers import IqAnswers
from xmpp_video.core.session import Session
from xmpp_video.stanza.builders import iq


class RequestFailed(Exception):
    """The client answered with an error, or not in time."""


class ServerRequests(IqAnswers):
    def __init__(self, domain: str) -> None:
        super().__init__()
        self.domain = domain

    async def request(self, session: Session, payload: Element, timeout: float) -> Element:
        """Send an iq get with `payload` from the server to `session`; the answer's payload
        (the iq itself when it has none). Raises `RequestFailed` on an error answer or when
        none comes within `timeout` seconds."""
        id_ = "pep-" + secrets.token_hex(8)
        future = self._expect(id_, session.full)
        try:
            session.deliver(iq("get", to=session.full, from_=self.domain, id_=id_, payload=payload))
            async with asyncio.timeout(timeout):
                answer = await future
        except TimeoutError:
            raise RequestFailed(f"no answer from {session.full}") from None
        finally:
            self._forget(id_)
        if answer.get("type") != "result":
            raise RequestFailed(f"{session.full} answered with an error")
        return answer[0] if len(answer) else answer
