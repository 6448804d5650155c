"""A periodic sweep over `server.connections`, a batch per event-loop iteration.

Per-connection work that only needs to happen every so often (releasing idle parsers, pinging
silent clients) is done by one sweep rather than a timer per connection: no memory per
connection, and a bounded amount of work between two reads of the network. Subclasses say what
to do with each C2S stream (`visit`).
"""

from __future__ import annotations

import asyncio

from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.server import Server

BATCH = 500  # streams looked at per event-loop iteration during a sweep


class Sweep:
    """Visits every C2S stream of `server.connections` every `period` seconds until `stop()`."""

    __slots__ = ("_handle", "loop", "period", "server")

    def __init__(self, server: Server, period: float) -> None:
        self.server = server
        self.period = period
        self.loop = asyncio.get_running_loop()
        self._handle: asyncio.Handle | None = None

    def visit(self, stream: C2SStream) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._handle = self.loop.call_later(self.period, self._sweep)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _sweep(self) -> None:
        self._step(list(self.server.connections), 0)

    def _step(self, streams: list[object], start: int) -> None:
        end = start + BATCH
        for stream in streams[start:end]:
            if isinstance(stream, C2SStream):
                self.visit(stream)
        if end < len(streams):
            self._handle = self.loop.call_soon(self._step, streams, end)
        else:
            self.start()
