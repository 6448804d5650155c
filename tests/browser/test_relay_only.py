"""TURN only: the page with ``?relay=1`` sets ``iceTransportPolicy: "relay"``, with the TURN
credentials the server hands out (``/api/turn/credentials``), against the real coturn of
tests/integration/test_turn_coturn.py: every byte of media goes through the relay."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import call_page, chromium, require_chromium
from tests.integration.test_turn_coturn import HOST, Coturn
from tests.integration.test_turn_coturn import coturn as coturn  # the fixture, module-scoped
from tests.server_fixtures import RunningServer, make_settings, running_server

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(60),
]


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_chromium()


async def test_two_pages_call_through_turn_only(
    coturn: Coturn, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        turn_secret=coturn.secret,
        turn_uris=f"turn:{HOST}:{coturn.port}?transport=udp",
    )
    async with running_server(settings) as server:
        await server.add_user("alice")
        await server.add_user("bob")
        async with (
            chromium() as browser,
            call_page(browser, server, "alice", query="?relay=1") as alice,
            call_page(browser, server, "bob", query="?relay=1") as bob,
        ):
            await alice.expect_visible("#relay-mode")
            await alice.dial("bob")
            await bob.expect_ringing("alice")
            await bob.answer()
            await alice.expect_state("In call", timeout=20)
            await bob.expect_state("In call", timeout=20)
            await alice.expect_frames_growing()
            await bob.expect_frames_growing()
            for page in (alice, bob):
                assert await page.selected_candidate_types() == ("relay", "relay")
            await bob.hang_up()
            await alice.expect_info("bob hung up.")


async def test_relay_mode_without_a_turn_server_says_so(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        chromium() as browser,
        call_page(browser, xmpp_server, "alice", query="?relay=1") as alice,
    ):
        await alice.dial("bob")
        await alice.expect_notice("need a TURN server")
        await alice.expect_visible("#dial")
