"""Real Chromium for the call page: Debian's ``/usr/bin/chromium`` driven by PyPI ``playwright``
(its bundled driver only; no browser download), headless, as root (``--no-sandbox``), with
Chrome's fake camera and microphone (``--use-fake-device-for-media-stream``: a test pattern and
a beep) and permission prompts answered yes (``--use-fake-ui-for-media-stream``).

Each person gets a `CallPage`: their own browser context (own ``sessionStorage``, so their own
sign-in) on the server's page, driven only through the page's controls — labels, buttons and
keys, as a person would — and read back through what the page shows. Media are checked with
``getStats()`` through ``window.xmppVideo`` (the page's console handle): ``framesDecoded`` of the
inbound video must grow.

    require_chromium()  # skip, or fail under CI=true, without Chromium or playwright
    async with chromium() as browser, call_page(browser, server, "alice") as alice:
        await alice.dial("bob")
        await alice.expect_state("Ringing…")

Every wait is bounded (`TIMEOUT`); a page's uncaught errors fail the test when its block ends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixtures import PASSWORD, RunningServer

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # reported by require_chromium()
    Browser = Page = Any  # type: ignore[assignment,misc]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT = 15.0  # seconds, every wait
CHROMIUM_ARGS = (
    "--no-sandbox",  # root in CI
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # this machine's network is closed: no background connections to Google's services
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=MediaRouter,OptimizationHints,Translate",
)
PHONE_WIDTH, PHONE_HEIGHT = 390, 844  # the page must work at phone width


def chromium_path() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def require_chromium() -> None:
    """Skip without Chromium or playwright; fail instead under ``CI=true``."""
    missing = []
    if chromium_path() is None:
        missing.append("Chromium (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[test]')")
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed"
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"{reason} (CI=true: the browser tests are required)")
    pytest.skip(reason)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed (by playwright, which started it) when the block ends."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=list(CHROMIUM_ARGS),
            timeout=TIMEOUT * 1000,
        )
        try:
            yield browser
        finally:
            await browser.close()


class CallPage:
    """One person on the call page (their own browser context)."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.name = name
        self.errors: list[str] = []  # uncaught exceptions in the page
        self.console: list[str] = []  # console messages, for failure reports
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))

    # -- reading the page ---------------------------------------------------------------------

    def locator(self, selector: str) -> Any:
        return self.page.locator(selector)

    async def expect_text(self, selector: str, text: str, timeout: float = TIMEOUT) -> None:
        await expect(self.locator(selector)).to_contain_text(text, timeout=timeout * 1000)

    async def expect_state(self, text: str, timeout: float = TIMEOUT) -> None:
        """The call view's state (Calling…, Ringing…, Connecting…, In call)."""
        await self.expect_text("#call-state", text, timeout)

    async def expect_notice(self, text: str, timeout: float = TIMEOUT) -> None:
        """An error message (role=alert) containing `text`."""
        await expect(self.locator("#notice")).to_be_visible(timeout=timeout * 1000)
        await self.expect_text("#notice", text, timeout)

    async def expect_info(self, text: str, timeout: float = TIMEOUT) -> None:
        await self.expect_text("#info", text, timeout)

    async def expect_visible(self, selector: str, timeout: float = TIMEOUT) -> None:
        await expect(self.locator(selector)).to_be_visible(timeout=timeout * 1000)

    async def expect_hidden(self, selector: str, timeout: float = TIMEOUT) -> None:
        await expect(self.locator(selector)).to_be_hidden(timeout=timeout * 1000)

    async def expect_focused(self, selector: str, timeout: float = TIMEOUT) -> None:
        await expect(self.locator(selector)).to_be_focused(timeout=timeout * 1000)

    async def expect_ringing(self, caller: str, timeout: float = TIMEOUT) -> None:
        await self.expect_visible("#incoming", timeout)
        await self.expect_text("#caller", caller, timeout)

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        return await self.page.evaluate(script, arg)

    async def frames_decoded(self) -> int:
        frames: int = await self.evaluate(
            "async () => window.xmppVideo.call ? await window.xmppVideo.call.framesDecoded() : 0"
        )
        return frames

    async def expect_frames(self, more_than: int = 10, timeout: float = TIMEOUT) -> int:
        """Until the inbound video decoded more than `more_than` frames; their count."""
        frames = 0
        try:
            async with asyncio.timeout(timeout):
                while (frames := await self.frames_decoded()) <= more_than:
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} decoded {frames} video frames in {timeout}s\n{self.report()}"
            ) from None
        return frames

    async def expect_frames_growing(self) -> None:
        """Decoded frames keep coming: more now, and more again a moment later."""
        first = await self.expect_frames(5)
        await self.expect_frames(first + 5)

    async def selected_candidate_types(self) -> tuple[str, str]:
        """(local, remote) candidate types of the nominated ICE pair (host, srflx, relay)."""
        pair: list[str] = await self.evaluate(
            """async () => {
                const stats = await window.xmppVideo.call.getStats();
                let transport = null;
                for (const s of stats.values()) if (s.type === "transport") transport = s;
                const pair = stats.get(transport.selectedCandidatePairId);
                return [stats.get(pair.localCandidateId).candidateType,
                        stats.get(pair.remoteCandidateId).candidateType];
            }"""
        )
        return pair[0], pair[1]

    def report(self) -> str:
        return f"[{self.name}] errors: {self.errors}\nconsole:\n" + "\n".join(self.console[-30:])

    # -- acting like a person -----------------------------------------------------------------

    async def sign_in(self, user: str, password: str = PASSWORD) -> None:
        """Type the name and password, press Enter; wait until online."""
        await self.page.get_by_label("User name").fill(user)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_label("Password").press("Enter")
        await self.expect_text("#connection", "Online")
        await self.expect_visible("#dial")

    async def dial(self, to: str, *, video: bool = True) -> None:
        await self.page.get_by_label("Who to call").fill(to)
        name = "Video call" if video else "Audio call"
        await self.page.get_by_role("button", name=name).click()

    async def answer(self) -> None:
        await self.page.get_by_role("button", name="Answer").click()

    async def decline(self) -> None:
        await self.page.get_by_role("button", name="Decline").click()

    async def hang_up(self) -> None:
        await self.locator("#hangup").click()

    async def screenshot(self, name: str, tmp_path: Path) -> Path:
        """Into docs/ when it has none yet or UPDATE_SCREENSHOTS=1 (so test runs do not churn
        the committed images), else next to the test's temporary files."""
        target = DOCS / name
        if target.exists() and os.environ.get("UPDATE_SCREENSHOTS", "") != "1":
            target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(target), full_page=True)
        return target

    async def fits_width(self) -> None:
        """Nothing is wider than the viewport (no sideways scrolling at phone width)."""
        overflow = await self.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"{self.name}: the page is {overflow}px wider than the screen"


@asynccontextmanager
async def call_page(
    browser: Browser,
    server: RunningServer,
    name: str,
    *,
    query: str = "",
    sign_in: bool = True,
) -> AsyncIterator[CallPage]:
    """`name`'s page (phone-sized), signed in unless told not to; closed at the end, and its
    uncaught errors fail the test."""
    context = await browser.new_context(
        viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT}, device_scale_factor=1
    )
    context.set_default_timeout(TIMEOUT * 1000)
    try:
        page = CallPage(await context.new_page(), name)
        await page.page.goto(f"{server.http_url}/{query}")
        if sign_in:
            await page.sign_in(name)
        yield page
        assert not page.errors, page.report()
    finally:
        await context.close()
