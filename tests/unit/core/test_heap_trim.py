"""The C heap is trimmed once a burst of connections is over (core/heap_trim.py)."""

from __future__ import annotations

import asyncio
import ctypes.util
import sys

import pytest

from xmpp_video.core.heap_trim import MAX_INTERVAL, HeapTrimmer

PERIOD = 0.02
pytestmark = pytest.mark.asyncio


async def _periods(n: int) -> None:
    await asyncio.sleep(PERIOD * n + PERIOD / 2)


async def test_trims_once_when_a_change_in_the_number_of_connections_has_settled() -> None:
    calls: list[int] = []
    connections = set(range(3))
    trimmer = HeapTrimmer(connections, PERIOD, trim=lambda pad: calls.append(pad) or 1)
    trimmer.start()
    try:
        await _periods(3)
        assert calls == []  # nothing happened: nothing to give back
        connections.update(range(3, 50))  # a burst of logins
        await _periods(3)
        assert calls == [0]
        await _periods(3)
        assert calls == [0]  # once per burst, not every period
        connections.clear()  # everyone leaves
        await _periods(3)
        assert calls == [0, 0]
    finally:
        trimmer.stop()


async def test_keeps_trimming_while_connections_keep_changing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("xmpp_video.core.heap_trim.MAX_INTERVAL", PERIOD * 4)
    calls: list[int] = []
    connections: set[int] = set()
    trimmer = HeapTrimmer(connections, PERIOD, trim=lambda pad: calls.append(pad) or 1)
    trimmer.start()
    try:
        for n in range(30):  # a change every half period: never settles
            connections.add(n)
            await asyncio.sleep(PERIOD / 2)
        assert len(calls) >= 2
    finally:
        trimmer.stop()
    assert MAX_INTERVAL >= 10  # the real interval is not a busy loop


async def test_stop_ends_the_checks() -> None:
    calls: list[int] = []
    connections = {1}
    trimmer = HeapTrimmer(connections, PERIOD, trim=lambda pad: calls.append(pad) or 1)
    trimmer.start()
    trimmer.stop()
    connections.add(2)
    await _periods(4)
    assert calls == []


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
    reason="glibc's malloc_trim is Linux-only",
)
async def test_memory_freed_between_blocks_still_in_use_goes_back_to_the_system() -> None:
    trimmer = HeapTrimmer(set())
    if not trimmer.available:
        pytest.skip("the C library has no malloc_trim (not glibc)")
    # 120 MB in blocks below glibc's mmap threshold (they come from the heap), written so that
    # their pages are resident; every 20th stays alive and pins the heap's top: free() alone
    # cannot give the rest back.
    blocks = [b"x" * 60_000 for _ in range(2_000)]
    kept = blocks[::20]
    del blocks
    before = _rss_kb()
    trimmer.trim()
    after = _rss_kb()
    assert before - after > 50_000, (before, after)
    assert len(kept) == 100
