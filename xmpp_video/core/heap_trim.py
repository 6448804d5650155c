"""Gives the C heap's free pages back to the system once a burst of connections is over.

A TLS handshake and a login allocate far more, briefly, than an idle connection keeps (OpenSSL's
handshake buffers, SCRAM, the SQL round trips), and a connection that ends frees everything it
had. glibc keeps such freed memory in its heap, mostly in holes between blocks still in use,
and only gives back what lies at the very top: after 2,000 logins and logouts the process
stayed 10 to 20 MB larger each time (`xmpp_load.py idle --clients 2000`, run five times on one
server). `malloc_trim(0)` returns the free pages inside the heap too.

It is called when the number of connections has changed and then stayed the same for a whole
period (a burst of logins or logouts is over), and at least every `MAX_INTERVAL` seconds while
it keeps changing. A trim takes a few milliseconds on a heap of some hundred MB, once per burst:
no cost on the path of a stanza. Where the C library is not glibc, it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable, Sized

log = logging.getLogger(__name__)

PERIOD_SECONDS = 1.0
MAX_INTERVAL = 60.0  # seconds between trims while connections keep coming and going


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """Watches how many connections there are, every `period` seconds, and trims the C heap
    when a change has settled."""

    __slots__ = ("_changed_since", "_count", "_handle", "_loop", "_trim", "connections", "period")

    def __init__(
        self,
        connections: Sized,
        period: float = PERIOD_SECONDS,
        trim: Callable[[int], int] | None = None,
    ) -> None:
        self.connections = connections
        self.period = period
        self._trim = trim if trim is not None else _glibc_malloc_trim()
        self._loop = asyncio.get_running_loop()
        self._count = len(connections)
        self._changed_since: float | None = None  # the first change not followed by a trim
        self._handle: asyncio.TimerHandle | None = None

    @property
    def available(self) -> bool:
        return self._trim is not None

    def start(self) -> None:
        if self._trim is not None:
            self._handle = self._loop.call_later(self.period, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        count = len(self.connections)
        now = time.monotonic()
        if count != self._count:
            self._count = count
            if self._changed_since is None:
                self._changed_since = now
            elif now - self._changed_since >= MAX_INTERVAL:
                self.trim()
        elif self._changed_since is not None:
            self.trim()  # unchanged for a whole period after a change: the burst is over
        self.start()

    def trim(self) -> None:
        self._changed_since = None
        if self._trim is None:
            return
        started = time.perf_counter()
        released = self._trim(0)
        log.debug(
            "malloc_trim: %s in %.1f ms",
            "memory released" if released else "nothing to release",
            (time.perf_counter() - started) * 1000,
        )
