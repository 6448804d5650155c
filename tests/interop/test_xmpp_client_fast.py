"""@xmpp/client (Node.js) with SASL2 (XEP-0388), Bind 2 (XEP-0386) and FAST (XEP-0484).

Romeo's phone is @xmpp/client over WebSocket (``ws://`` from a trusted proxy address counts as
encrypted, SPEC §10, so FAST is offered): a password login through SASL2 gets a FAST token, a
second run logs in with the token alone (HT-SHA-256-NONE, no password), and after a revocation
(a password change, or the admin's revoke) the token is refused while a password login works.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.interop.node import FastOptions, NodeResult, require_node_client, run_ws_client
from tests.server_fixtures import PASSWORD, RunningServer, make_settings, running_server
from xmpp_video.core.c2s_sasl2 import fast_tokens
from xmpp_video.jid import JID

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
]

PHONE = "5f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b"


@pytest_asyncio.fixture
async def fast_server(tmp_path: Path, database_url: str) -> AsyncIterator[RunningServer]:
    settings = make_settings(tmp_path, database_url, trusted_proxies="127.0.0.1")
    async with running_server(settings) as server:
        yield server


async def login(
    server: RunningServer, password: str, token: str | None = None, token_expiry: str | None = None
) -> NodeResult:
    options = FastOptions(user_agent_id=PHONE, token=token, token_expiry=token_expiry)
    return await run_ws_client(
        server.ws_url, "localhost", "romeo", password, "login", resource="phone", fast=options
    )


def token_of(result: NodeResult) -> tuple[str, str]:
    (event,) = result.named("token")
    assert event["mechanism"] == "HT-SHA-256-NONE"
    return event["token"], event["expiry"]


async def test_password_then_fast_then_revocation(fast_server: RunningServer) -> None:
    require_node_client()
    await fast_server.add_user("romeo")

    first = await login(fast_server, PASSWORD)
    assert first.returncode == 0, first.stderr
    assert [e["mechanism"] for e in first.named("sasl2")] == ["SCRAM-SHA-1"]
    jid = first.named("online")[0]["jid"]
    assert jid.startswith("romeo@localhost/phone/")  # Bind 2: the client's tag, then ours
    token, expiry = token_of(first)
    rows = await fast_server.server.storage.fast_tokens.list_owner("romeo@localhost")
    assert [(row.client_id, row.slot) for row in rows] == [(PHONE, "new")]

    # FAST: one round trip with the token, no password at all
    fast = await login(fast_server, "", token=token, token_expiry=expiry)
    assert fast.returncode == 0, fast.stderr
    assert [e["mechanism"] for e in fast.named("sasl2")] == ["HT-SHA-256-NONE"]
    assert fast.named("sasl2-failure") == []
    assert fast.named("online")[0]["jid"] == jid  # the same client gets the same resource
    rows = await fast_server.server.storage.fast_tokens.list_owner("romeo@localhost")
    assert [row.slot for row in rows] == ["current"]

    # a password change revokes it: the token is refused, the new password works
    await fast_server.server.accounts.set_password(JID.parse("romeo@localhost"), "new password!")
    refused = await login(fast_server, "", token=token, token_expiry=expiry)
    assert refused.returncode == 1
    assert refused.named("sasl2-failure")[0]["condition"] == "not-authorized"
    again = await login(fast_server, "new password!")
    assert again.returncode == 0, again.stderr
    token, expiry = token_of(again)

    # so does the admin's revoke
    assert await fast_tokens(fast_server.server).revoke("romeo@localhost") == 1
    refused = await login(fast_server, "", token=token, token_expiry=expiry)
    assert refused.returncode == 1
    assert refused.named("sasl2-failure")[0]["condition"] == "not-authorized"
    assert (await login(fast_server, "new password!")).returncode == 0
