"""The call page in real Chromium (tests/browser/chromium.py): people sign in, call, answer,
decline and hang up through the page's own controls, Chrome's WebRTC on every side, and read
what the page tells them.

The idle, ringing and in-call screenshots in docs/ (shown in the README) come from
`test_two_pages_complete_a_video_call`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chromium import CallPage, call_page, chromium, require_chromium
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.bridge.session import JsonSession

if TYPE_CHECKING:
    from playwright.async_api import Request

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(60),
]


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_chromium()


async def _track_enabled(page: CallPage, kind: str) -> bool:
    script = "kind => window.xmppVideo.call.localStream.getTracks().find(t => t.kind === kind)"
    enabled: bool = await page.evaluate(f"{script}.enabled", kind)
    return enabled


async def test_two_pages_complete_a_video_call(xmpp_server: RunningServer, tmp_path: Path) -> None:
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        chromium() as browser,
        call_page(browser, xmpp_server, "alice") as alice,
        call_page(browser, xmpp_server, "bob") as bob,
    ):
        await alice.fits_width()
        await alice.screenshot("screenshot-idle.png", tmp_path)
        await alice.dial("bob")
        await bob.expect_ringing("alice")
        await bob.expect_text("#incoming-type", "video call")
        await alice.expect_state("Ringing")
        await bob.fits_width()
        await bob.screenshot("screenshot-ringing.png", tmp_path)
        await bob.answer()
        await alice.expect_state("In call")
        await bob.expect_state("In call")
        await alice.expect_frames_growing()
        await bob.expect_frames_growing()
        await alice.expect_text("#call-duration", "00:0")
        await alice.fits_width()
        await alice.screenshot("screenshot-call.png", tmp_path)

        # mute and camera toggles: the tracks are disabled, no renegotiation
        mute = alice.page.get_by_role("button", name="Mute")
        await mute.click()
        await alice.expect_text("#mute", "Unmute")
        assert await alice.locator("#mute").get_attribute("aria-pressed") == "true"
        assert not await _track_enabled(alice, "audio")
        await alice.page.get_by_role("button", name="Camera off").click()
        await alice.expect_text("#camera", "Camera on")
        assert not await _track_enabled(alice, "video")
        await alice.page.get_by_role("button", name="Camera on").click()
        await alice.page.get_by_role("button", name="Unmute").click()
        assert await _track_enabled(alice, "audio")
        assert await _track_enabled(alice, "video")
        await bob.expect_frames_growing()  # still flowing

        await alice.hang_up()
        await bob.expect_info("alice hung up.")
        await alice.expect_info("Call ended.")
        await alice.expect_visible("#dial")
        await bob.expect_visible("#dial")


async def test_keyboard_only_decline_then_audio_call(xmpp_server: RunningServer) -> None:
    """Everything by keyboard: Enter signs in and dials, the ringing page focuses Answer
    (Enter answers, Escape declines), the call view focuses Hang up."""
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        chromium() as browser,
        call_page(browser, xmpp_server, "alice") as alice,
        call_page(browser, xmpp_server, "bob") as bob,
    ):
        callee = alice.page.get_by_label("Who to call")
        await alice.expect_focused("#callee")
        await callee.fill("bob")
        await callee.press("Enter")  # the form's first button: a video call
        await bob.expect_ringing("alice")
        await bob.expect_focused("#answer")
        await bob.page.keyboard.press("Escape")
        await alice.expect_notice("bob declined the call.")
        await bob.expect_info("You declined the call from alice.")
        await bob.expect_hidden("#incoming")

        # an audio call: Tab from the field to the buttons, Enter on "Audio call"
        await alice.expect_focused("#callee")
        await alice.page.keyboard.press("Tab")
        await alice.page.keyboard.press("Tab")
        await alice.expect_focused("#audio-call")
        await alice.page.keyboard.press("Enter")
        await bob.expect_ringing("alice")
        await bob.expect_text("#incoming-type", "audio call")
        await bob.page.keyboard.press("Enter")
        await alice.expect_state("In call")
        await bob.expect_state("In call")
        await alice.expect_hidden("#camera")  # audio only: no camera button
        await bob.expect_focused("#hangup")
        await bob.page.keyboard.press("Enter")
        await alice.expect_info("bob hung up.")
        await bob.expect_info("Call ended.")


async def test_clear_messages_for_every_error(xmpp_server: RunningServer) -> None:
    """Unknown user, offline user, yourself, a malformed name, a wrong password: each gets a
    message that says what happened."""
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("carol")  # exists, never online
    async with (
        chromium() as browser,
        call_page(browser, xmpp_server, "alice", sign_in=False) as page,
    ):
        await page.page.get_by_label("User name").fill("alice")
        await page.page.get_by_label("Password").fill("wrong password")
        await page.page.get_by_role("button", name="Sign in").click()
        await page.expect_notice("Wrong user name or password.")
        await page.sign_in("alice")
        await page.expect_hidden("#notice")

        await page.dial("nobody")
        await page.expect_notice("nobody is not a user on this server.")
        await page.expect_visible("#dial")

        await page.dial("carol")
        await page.expect_notice("carol is not available right now")

        await page.dial("alice")
        await page.expect_notice("You cannot call yourself.")

        await page.dial("not a name@@")
        await page.expect_notice("is not a valid user name")
        await page.fits_width()


async def test_ring_timeout_is_told_to_both(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, ring_timeout=2)
    async with running_server(settings) as server:
        await server.add_user("alice")
        await server.add_user("bob")
        async with (
            chromium() as browser,
            call_page(browser, server, "alice") as alice,
            call_page(browser, server, "bob") as bob,
        ):
            await alice.dial("bob")
            await bob.expect_ringing("alice")
            await alice.expect_notice("bob did not answer.", timeout=10)
            await bob.expect_info("Missed call from alice.", timeout=10)
            await bob.expect_hidden("#incoming")


async def test_network_loss_reconnects_with_the_refresh_token(
    xmpp_server: RunningServer,
) -> None:
    """The server side of alice's WebSocket vanishes (TCP reset, as when the network drops):
    the page says so, gets a new access token with its refresh token, reconnects, and calls."""
    await xmpp_server.add_user("alice")
    await xmpp_server.add_user("bob")
    async with (
        chromium() as browser,
        call_page(browser, xmpp_server, "alice") as alice,
        call_page(browser, xmpp_server, "bob") as bob,
    ):
        refreshes: list[str] = []

        def note(request: Request) -> None:
            if request.url.endswith("/api/auth/token"):
                refreshes.append(request.method)

        alice.page.on("request", note)
        [session] = [
            s
            for s in xmpp_server.server.connections
            if isinstance(s, JsonSession) and s.user == "alice"
        ]
        transport = session.channel.tcp.transport  # type: ignore[attr-defined]
        assert transport is not None
        transport.abort()
        await alice.expect_notice("Connection to the server lost. Reconnecting…")
        await alice.expect_text("#connection", "Online", timeout=10)
        await alice.expect_info("Reconnected.")
        await alice.expect_hidden("#notice")
        assert refreshes
        assert set(refreshes) == {"POST"}  # one per attempt; the first one normally succeeds

        await alice.dial("bob")
        await bob.expect_ringing("alice")
        await bob.decline()
        await alice.expect_notice("bob declined the call.")


async def test_web_page_can_be_turned_off(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, web_page=False)
    async with running_server(settings) as server, chromium() as browser:
        page = await browser.new_page()
        try:
            response = await page.goto(server.http_url + "/")
            assert response is not None
            assert response.status == 404
            module = await page.goto(server.http_url + "/static/xmpp-video.js")
            assert module is not None
            assert module.status == 200
        finally:
            await page.close()
