"""The call page in real Chromium against native Jingle devices (slixmpp + aiortc, with their own
SDP⇄Jingle translation in tests/interop/jingle_sdp_min.py): Chrome's real SDP goes through the
bridge's SDP ⇄ Jingle both ways, and the media flow both ways.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.chromium import call_page, chromium, require_chromium
from tests.interop.jingle_peer import call_peer
from tests.interop.native_webrtc import CallRejectedError, native_peer
from tests.server_fixtures import RunningServer

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(60),
]
FRAMES = 10


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_chromium()


async def test_page_calls_a_native_client_and_hangs_up(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        native_peer(xmpp_server, bob_jid, resource="phone") as bob,
        chromium() as browser,
        call_page(browser, xmpp_server, "alice") as alice,
    ):
        answering = asyncio.create_task(bob.answer_next())
        await alice.dial("bob")
        call_id = await answering
        await bob.wait_connected(20)
        await alice.expect_state("In call")
        await alice.expect_frames_growing()
        counts = await bob.frames_received(FRAMES)
        assert counts.video >= FRAMES
        assert counts.audio >= FRAMES
        await alice.hang_up()
        assert await bob.wait_terminated(10) == "success"
        assert bob.call_id == call_id
        await alice.expect_info("Call ended.")


async def test_native_client_calls_the_page_and_hangs_up(xmpp_server: RunningServer) -> None:
    """The native side trickles its candidates (transport-info), as Conversations does."""
    await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        native_peer(xmpp_server, bob_jid, resource="phone", trickle=True) as bob,
        chromium() as browser,
        call_page(browser, xmpp_server, "alice") as alice,
    ):
        calling = asyncio.create_task(bob.call("alice@localhost"))
        await alice.expect_ringing("bob")
        await alice.expect_text("#incoming-type", "video call")
        await alice.answer()
        await calling
        await bob.wait_connected(20)
        await alice.expect_state("In call")
        await alice.expect_frames_growing()
        counts = await bob.frames_received(FRAMES)
        assert counts.video >= FRAMES
        assert counts.audio >= FRAMES
        await bob.hangup()
        await alice.expect_info("bob hung up.")
        await alice.expect_visible("#dial")


async def test_callee_on_a_page_and_a_native_device(xmpp_server: RunningServer) -> None:
    """bob is signed in on a page and on a native phone: both ring; the page answers, so the
    phone gets the JMI accept from the page's resource and stops ringing; the media flow
    between the caller's device and bob's page."""
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with (
        native_peer(xmpp_server, alice_jid, resource="laptop") as alice,
        call_peer(xmpp_server, bob_jid, resource="phone") as bob_phone,
        chromium() as browser,
        call_page(browser, xmpp_server, "bob") as bob_page,
    ):
        calling = asyncio.create_task(alice.call(bob_jid))
        propose = await bob_phone.next_jmi("propose")
        bob_phone.ringing(propose.from_, propose.call_id)
        await bob_page.expect_ringing("alice")
        await bob_page.answer()
        accept = await bob_phone.next_jmi("accept", call_id=propose.call_id)
        assert accept.from_.startswith(f"{bob_jid}/json-"), accept
        assert await calling == propose.call_id
        assert alice.remote is not None
        assert alice.remote.startswith(f"{bob_jid}/json-")
        await alice.wait_connected(20)
        await bob_page.expect_state("In call")
        await bob_page.expect_frames_growing()
        assert (await alice.frames_received(FRAMES)).video >= FRAMES
        await bob_phone.expect_no_jingle("session-initiate", within=0.3)  # it never rang on
        await alice.hangup()
        await bob_page.expect_info("alice hung up.")


async def test_decline_each_side_and_busy(xmpp_server: RunningServer) -> None:
    alice_jid = await xmpp_server.add_user("alice")
    bob_jid = await xmpp_server.add_user("bob")
    async with chromium() as browser, call_page(browser, xmpp_server, "alice") as page:
        # the page declines a native caller
        async with native_peer(xmpp_server, bob_jid, resource="phone") as bob:
            calling = asyncio.create_task(bob.call(alice_jid))
            await page.expect_ringing("bob")
            await page.decline()
            with pytest.raises(CallRejectedError) as refused:
                await calling
            assert refused.value.reason == "decline"
            await page.expect_info("You declined the call from bob.")

        # a native callee declines the page's call
        async with native_peer(xmpp_server, bob_jid, resource="phone") as bob:
            declining = asyncio.create_task(bob.answer_next(accept=False))
            await page.dial("bob")
            await declining
            await page.expect_notice("bob declined the call.")

        # a native callee is busy
        async with call_peer(xmpp_server, bob_jid, resource="phone") as phone:
            await page.dial("bob")
            propose = await phone.next_jmi("propose")
            phone.ringing(propose.from_, propose.call_id)
            await page.expect_state("Ringing")
            phone.reject(propose.from_, propose.call_id, "busy")
            await page.expect_notice("bob is busy.")

            # the page cancels while it rings: the native device is told (retract)
            await page.dial("bob")
            propose = await phone.next_jmi("propose")
            phone.ringing(propose.from_, propose.call_id)
            await page.expect_state("Ringing")
            await page.expect_text("#hangup", "Cancel")
            await page.hang_up()
            retract = await phone.next_jmi("retract", call_id=propose.call_id)
            assert retract.reason == "cancel"
            await page.expect_info("Call cancelled.")

            # a native caller gives up while the page rings: a missed call
            call_id = phone.propose(alice_jid, media=("audio",))
            await page.expect_ringing("bob")
            await page.expect_text("#incoming-type", "audio call")
            phone.retract(alice_jid, call_id)
            await page.expect_info("Missed call from bob.")
            await page.expect_hidden("#incoming")
