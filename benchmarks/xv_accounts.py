"""Bulk account creation for benchmarks: `python benchmarks/xv_accounts.py FILE` reads
"localpart password" lines and creates them on the xmpp-video database named by the usual
settings (DATA_DIR, DATABASE_URL, XMPP_DOMAIN), through the same Accounts code the CLI uses.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from xmpp_video.app import prepare_database
from xmpp_video.config import load_settings
from xmpp_video.core.accounts import AccountError, Accounts, parse_account_jid
from xmpp_video.storage.sql import open_storage


async def main(path: Path) -> int:
    settings = load_settings()
    await prepare_database(settings)
    storage = await open_storage(settings.effective_database_url)
    accounts = Accounts(storage.users, settings.xmpp_domain, settings.scram_iterations)
    created = 0
    try:
        lines = [line.split(None, 1) for line in path.read_text().splitlines() if line.strip()]
        sem = asyncio.Semaphore(8)

        async def add(local: str, password: str) -> None:
            nonlocal created
            async with sem:
                try:
                    await accounts.add(parse_account_jid(local, settings.xmpp_domain), password)
                    created += 1
                except AccountError:
                    pass  # already there

        await asyncio.gather(*(add(local, pw.strip()) for local, pw in lines))
    finally:
        await storage.close()
    print(f"created {created} of {len(lines)} accounts")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]))))
