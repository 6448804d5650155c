"""Storage.ping: the health check's database probe, on both backends."""

from __future__ import annotations

import pytest

from xmpp_video.storage.sql import Storage

pytestmark = pytest.mark.asyncio


async def test_ping_answers(storage: Storage) -> None:
    await storage.ping()
