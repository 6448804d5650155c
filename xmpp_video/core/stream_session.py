"""A session read from an XML stream, whatever it carries (c2s, component): bytes → parser
events → handled one at a time, in order.

A handler that must wait (database, hooks) returns an awaitable: reading pauses, the events
that follow queue, and handling goes on, in order, once it is done. Most events need no wait
and are handled at once, with no task and no queue object (an idle stream holds none).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import deque
from collections.abc import Awaitable
from typing import ClassVar, Protocol

from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.xml import Event, StreamParser, XmlStreamError

log = logging.getLogger(__name__)


class Pausable(Protocol):
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class StreamSession(Session):
    """The input side of a c2s or component stream; the subclass says how to handle an
    event."""

    __slots__ = ("_busy", "_queue", "parser", "server", "stream_id")

    kind: ClassVar[str]  # for task names and logs: "c2s", "component"

    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        settings = server.settings
        self.parser = StreamParser(
            max_element_size=settings.max_stanza_size, max_depth=settings.max_depth
        )
        self.stream_id = ""
        self._queue: deque[Event] | None = None  # events not handled yet; None: there are none
        self._busy = False  # a handler is being waited for

    @property
    @abstractmethod
    def _pump_channel(self) -> Pausable:
        """The connection to pause while a handler is waited for."""

    @abstractmethod
    def _input_ended(self) -> bool:
        """Nothing more is to be handled (the stream is closed)."""

    @abstractmethod
    def _handle(self, event: Event) -> Awaitable[None] | None:
        """Handle one event; an awaitable when handling goes on after it."""

    @abstractmethod
    def close(self, condition: StreamErrorCondition | None = None, text: str = "") -> None: ...

    def _feed(self, data: bytes) -> None:
        try:
            events = self.parser.feed(data)
        except XmlStreamError as exc:
            self.close(exc.condition, exc.text)
            return
        if not events:
            return
        if self._queue is None:
            self._queue = deque(events)
        else:
            self._queue.extend(events)
        if not self._busy:
            self._drain()

    def _clear_queue(self) -> None:
        if self._queue is not None:
            self._queue.clear()

    def _drain(self) -> None:
        queue = self._queue
        while queue and not self._input_ended():
            event = queue.popleft()
            try:
                pending = self._handle(event)
            except Exception:
                log.exception("%s stream %s: handling failed", self.kind, self.stream_id)
                self.close(StreamErrorCondition.INTERNAL_SERVER_ERROR)
                return
            if pending is not None:
                self._busy = True
                self._pump_channel.pause_reading()
                self.server.tasks.spawn(self._wait(pending), name=f"{self.kind}-{self.stream_id}")
                return
        if queue is not None and not queue and queue is self._queue:
            self._queue = None

    async def _wait(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            log.exception("%s stream %s: handler failed", self.kind, self.stream_id)
            self.close(StreamErrorCondition.INTERNAL_SERVER_ERROR)
        self._busy = False
        if not self._input_ended():
            self._pump_channel.resume_reading()
            self._drain()
