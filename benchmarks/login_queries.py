"""CPU per call of the database reads every login makes, through the real repositories.

    python3 benchmarks/login_queries.py                       # a throwaway SQLite file
    python3 benchmarks/login_queries.py postgresql+asyncpg://postgres@127.0.0.1/bench

A login reads the SCRAM keys (SASL), the roster (initial presence) and probes offline storage;
this prints, for each, the CPU milliseconds of this process per call (median of 5 rounds of
1,000 calls), next to the same SELECT built anew on every call (what the repositories did before
their statements were prebuilt) so that the cost of statement construction is visible. The
PostgreSQL database must exist and be empty of xmpp-video tables or migrated; it is migrated here.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from xmpp_video.auth.passwords import derive_all
from xmpp_video.storage.migrate import upgrade
from xmpp_video.storage.models import OfflineMessage, RosterItemRow, User
from xmpp_video.storage.repositories import StoredScram
from xmpp_video.storage.sql import open_storage

CALLS = 1000
ROUNDS = 5
DOMAIN = "localhost"


async def cpu_ms_per_call(call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(100):  # warm the statement caches and the pool
        await call()
    rounds = []
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(CALLS):
            await call()
        rounds.append((time.process_time() - start) * 1000 / CALLS)
    return statistics.median(rounds)


async def main(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    storage = await open_storage(url)
    try:
        creds = {
            str(c.hash): StoredScram(c.salt, c.iterations, c.stored_key, c.server_key)
            for c in derive_all("secret", iterations=4096).values()
        }
        await storage.users.add("bench", DOMAIN, creds)
        engine = storage.engine

        async def built_each_time(build: Callable[[], object]) -> object:
            async with engine.connect() as connection:
                return (await connection.execute(build())).all()  # type: ignore[call-overload]

        owner = f"bench@{DOMAIN}"
        cases: list[
            tuple[str, Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]]
        ] = [
            (
                "SCRAM keys",
                lambda: storage.users.get_scram("bench", DOMAIN, "SHA-1"),
                lambda: built_each_time(
                    lambda: select(
                        User.scram_sha1_salt,
                        User.scram_sha1_iterations,
                        User.scram_sha1_stored_key,
                        User.scram_sha1_server_key,
                    ).where(User.username == "bench", User.domain == DOMAIN)
                ),
            ),
            (
                "roster",
                lambda: storage.roster.get_roster(owner),
                lambda: built_each_time(
                    lambda: select(RosterItemRow.__table__).where(RosterItemRow.owner == owner)
                ),
            ),
            (
                "offline probe",
                lambda: storage.offline.pop_all(owner),
                lambda: built_each_time(
                    lambda: select(OfflineMessage.id).where(OfflineMessage.owner == owner).limit(1)
                ),
            ),
        ]
        print(f"{url.split('://')[0]}: CPU ms per call (median of {ROUNDS} x {CALLS})")
        print(f"{'read':15} {'repository':>11} {'built per call':>15}")
        total = 0.0
        for name, repository, rebuilt in cases:
            ours = await cpu_ms_per_call(repository)
            theirs = await cpu_ms_per_call(rebuilt)
            total += ours
            print(f"{name:15} {ours:11.3f} {theirs:15.3f}")
        print(f"{'per login':15} {total:11.3f}")
    finally:
        await storage.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"))
