"""Server-side keepalive: XEP-0199 pings to silent clients, so that dead TCP connections (a phone
that lost its network without a FIN) are found in bounded time.

One periodic sweep over `server.connections` (like `core/compactor.py`), not a timer per
connection. Every `tick` seconds (a fraction of the settings, so the bounds below hold within a
tick), each bound stream that received nothing since the previous sweep counts one more silent
sweep (the stream marks itself ``heard`` on every read: one attribute write, no clock); one that
did starts over. A stream silent for ``KEEPALIVE_INTERVAL`` gets a ping (an iq from the server);
if nothing at all arrives within ``KEEPALIVE_TIMEOUT`` after it, the connection is closed with
``<connection-timeout/>`` — and a session that enabled stream management with resumption
hibernates (`C2SStream.drop`), otherwise it goes unavailable. So a dead connection is noticed
after at most interval + timeout + one tick of silence.
"""

from __future__ import annotations

import math

from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.server import Server
from xmpp_video.core.sweep import Sweep
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.stream.states import StreamState

TICKS_PER_PERIOD = 4  # sweeps per min(interval, timeout)


class Keepalive(Sweep):
    """Looks at every bound stream every `tick` seconds until `stop()`."""

    __slots__ = ("give_up_after", "ping_after")

    def __init__(self, server: Server, interval: float, timeout: float) -> None:
        """`interval` > 0: seconds of silence before a ping; `timeout`: seconds to answer."""
        super().__init__(server, min(interval, timeout) / TICKS_PER_PERIOD)
        # in sweeps (a stream silent for n sweeps has been silent for n to n + 1 ticks)
        self.ping_after = math.ceil(interval / self.tick - 1e-9)
        self.give_up_after = math.ceil(timeout / self.tick - 1e-9)

    @property
    def tick(self) -> float:
        return self.period

    def visit(self, stream: C2SStream) -> None:
        if stream.state is StreamState.BOUND:
            self.check(stream)

    def check(self, stream: C2SStream) -> None:
        """One sweep's look at one bound stream."""
        if stream.heard:
            stream.heard = False
            if stream.silent_sweeps:
                stream.silent_sweeps = 0
                stream.pinged_at = -1
            return
        silent = stream.silent_sweeps = stream.silent_sweeps + 1
        if stream.pinged_at < 0:
            if silent >= self.ping_after:
                stream.pinged_at = silent
                stream.keepalive_ping()
        elif silent - stream.pinged_at >= self.give_up_after:
            stream.drop(StreamErrorCondition.CONNECTION_TIMEOUT, "no answer to a ping")
