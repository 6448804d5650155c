"""What call tests share: waiting for a call's record (they are written behind)."""

from __future__ import annotations

import asyncio

from tests.server_fixtures import RunningServer
from xmpp_video.storage.repositories import CallRecord


async def call_record(server: RunningServer, call_id: str, state: str) -> CallRecord:
    """The call's ``call_session`` row once it has reached ``state``."""
    async with asyncio.timeout(10):
        while True:
            record = await server.server.storage.calls.get(call_id)
            if record is not None and record.state == state:
                return record
            await asyncio.sleep(0.05)
