"""Typed IQ dispatch: a handler is an async function that returns the reply payload.

Handlers are registered per (type, payload element, target). The dispatcher sends the result,
turns a raised `StanzaError` into an error reply, and any other exception into
`internal-server-error` (logged) so that one faulty module never kills a session.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal
from xml.etree.ElementTree import Element

from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.stanza.builders import iq_result
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply

log = logging.getLogger(__name__)

IqType = Literal["get", "set"]


class IqTarget(Enum):
    """Who an IQ is for: the server itself (to = domain) or an account (to = bare JID or none)."""

    SERVER = "server"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class IqRequest:
    stanza: Element
    payload: Element
    sender: JID
    to: JID  # the domain for SERVER, the account's bare JID for ACCOUNT
    origin: Session | None

    @property
    def type(self) -> str:
        return self.stanza.get("type", "")

    @property
    def from_self(self) -> bool:
        """The sender is the account the IQ is addressed to (e.g. its own roster)."""
        return self.sender.bare == self.to


IqHandler = Callable[[IqRequest], Awaitable[Element | None]]
Reply = Callable[[Element], None]


class IqDispatcher:
    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str, IqTarget], IqHandler] = {}

    def register(
        self,
        type_: IqType,
        payload_tag: str,
        handler: IqHandler,
        *,
        targets: tuple[IqTarget, ...] = (IqTarget.SERVER,),
    ) -> None:
        for target in targets:
            key = (type_, payload_tag, target)
            if key in self._handlers:
                raise ValueError(f"IQ handler already registered for {key}")
            self._handlers[key] = handler

    def handles(self, type_: str, payload_tag: str, target: IqTarget) -> bool:
        return (type_, payload_tag, target) in self._handlers

    def dispatch(
        self, request: IqRequest, target: IqTarget, reply: Reply
    ) -> Awaitable[None] | None:
        """Answer `request`; returns an awaitable when a handler has to run."""
        handler = self._handlers.get((request.type, request.payload.tag, target))
        if handler is None:
            reply(
                error_reply(request.stanza, StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE))
            )
            return None
        return _run(handler, request, reply)


async def _run(handler: IqHandler, request: IqRequest, reply: Reply) -> None:
    try:
        payload = await handler(request)
    except StanzaError as exc:
        reply(error_reply(request.stanza, exc))
    except Exception:
        log.exception("IQ handler %s failed", getattr(handler, "__qualname__", handler))
        reply(error_reply(request.stanza, StanzaError(StanzaErrorCondition.INTERNAL_SERVER_ERROR)))
    else:
        reply(iq_result(request.stanza, payload))


def iq_payload(stanza: Element) -> Element | None:
    """The single payload child of a get/set IQ, None when there is not exactly one."""
    if len(stanza) != 1:
        return None
    return stanza[0]
