"""CPU per archived message (XEP-0313 write-behind): batches of 500 rows through the real
archive repository, as the MAM module writes them.

    python3 benchmarks/archive_append.py                      # a throwaway SQLite file
    python3 benchmarks/archive_append.py postgresql+asyncpg://postgres@127.0.0.1/bench

Every routed chat message with a body is archived twice (sender's and recipient's archive), so
a message costs twice the figure printed here on top of routing. The PostgreSQL database must
exist; it is migrated here and the rows written stay (use a throwaway database).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from xmpp_video.modules.mam import BATCH_SIZE, new_archive_id
from xmpp_video.storage.migrate import upgrade
from xmpp_video.storage.repositories import ArchivedMessage
from xmpp_video.storage.sql import open_storage

BATCHES = 10
ROUNDS = 5
STANZA = (
    "<message from='romeo@localhost/balcony' to='juliet@localhost' type='chat' id='m1'>"
    f"<body>{'x' * 64}</body></message>"
)


def batch() -> list[ArchivedMessage]:
    now = dt.datetime.now(dt.UTC)
    return [
        ArchivedMessage(
            archive_id=new_archive_id(),
            owner="juliet@localhost",
            with_jid="romeo@localhost",
            with_resource="balcony",
            stamp=now,
            outgoing=False,
            stanza_xml=STANZA,
        )
        for _ in range(BATCH_SIZE)
    ]


async def main(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    storage = await open_storage(url)
    try:
        await storage.archive.append(batch())  # warm the pool and the statement cache
        rounds = []
        for _ in range(ROUNDS):
            batches = [batch() for _ in range(BATCHES)]
            start = time.process_time()
            for rows in batches:
                await storage.archive.append(rows)
            rounds.append((time.process_time() - start) * 1e6 / (BATCHES * BATCH_SIZE))
        print(
            f"{url.split('://')[0]}: {statistics.median(rounds):.1f} CPU-µs per archived row"
            f" (median of {ROUNDS} rounds of {BATCHES} x {BATCH_SIZE}; min {min(rounds):.1f},"
            f" max {max(rounds):.1f})"
        )
    finally:
        await storage.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"))
