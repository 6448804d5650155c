"""``xmpp-video user fast-revoke JID``: an operator revokes an account's FAST tokens (XEP-0484)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli import _env, run
from xmpp_video.auth.fast import FastTokens
from xmpp_video.storage.sql import open_storage

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


@pytest.mark.asyncio
async def test_fast_revoke(tmp_path: Path, migrated_database_url: str) -> None:
    env = _env(tmp_path, migrated_database_url)
    assert run(["user", "add", "alice", "--password", "s3cret"], env).returncode == 0
    storage = await open_storage(migrated_database_url)
    try:
        tokens = FastTokens(storage.fast_tokens, 3600)
        await tokens.issue("alice@localhost", "phone", "HT-SHA-256-NONE")
        await tokens.issue("alice@localhost", "laptop", "HT-SHA-256-NONE")
        revoked = run(["user", "fast-revoke", "alice@localhost"], env)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.strip() == "revoked 2 FAST token(s) of alice@localhost"
        assert await storage.fast_tokens.list_owner("alice@localhost") == []
    finally:
        await storage.close()
    bad = run(["user", "fast-revoke", "not a jid@localhost"], env)
    assert bad.returncode != 0
    assert bad.stderr.strip().count("\n") == 0
