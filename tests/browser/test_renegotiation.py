"""Renegotiation and a real ICE restart with Chrome's own WebRTC on both JSON devices.

aiortc cannot restart ICE (tests/interop/renegotiation_support.py); Chromium can. Each device
here is a JSON client in Python (SPEC §5 over /ws) and a bare ``RTCPeerConnection`` in its own
Chromium context (Chrome's fake camera and microphone), the test carrying the SDP between the
two: ``restartIce()`` and ``addTrack()`` then go through the bridge, Jingle and back, and the
media must keep flowing on the new ICE credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.browser.chromium import TIMEOUT, chromium, require_chromium
from tests.integration.http.jsonclient import JsonClient, json_client
from tests.interop.calls_support import call_record
from tests.interop.renegotiation_support import media_ports, ufrags
from tests.server_fixtures import RunningServer

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(90),
]

# A peer connection the test drives; descriptions are returned once gathering is complete,
# so that no candidate needs to trickle.
SETUP = """async (video) => {
  const pc = new RTCPeerConnection();
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  window.rtc = {pc, media};
  pc.addTrack(media.getAudioTracks()[0], media);
  if (video) pc.addTrack(media.getVideoTracks()[0], media);
  window.rtcCandidates = [];  // trickled candidates not yet sent, as RTCIceCandidateInit
  pc.addEventListener("icecandidate", (event) => {
    if (event.candidate) window.rtcCandidates.push(event.candidate.toJSON());
  });
  window.rtcLocal = async (description, trickle) => {
    if (trickle) {
      window.rtcCandidates = [];
      await pc.setLocalDescription(description);
      return pc.localDescription.sdp;
    }
    const gathered = new Promise((resolve) => {
      const done = (event) => {
        if (event.candidate) return;
        pc.removeEventListener("icecandidate", done);
        resolve();
      };
      pc.addEventListener("icecandidate", done);
    });
    await pc.setLocalDescription(description);
    await Promise.race([gathered, new Promise((r) => setTimeout(r, 5000))]);
    return pc.localDescription.sdp;
  };
}"""
OFFER = """async (restart) => {
  if (restart) window.rtc.pc.restartIce();
  return await window.rtcLocal(await window.rtc.pc.createOffer());
}"""
ANSWER = """async ({sdp, addVideo, trickle}) => {
  const pc = window.rtc.pc;
  await pc.setRemoteDescription({type: "offer", sdp});
  if (addVideo) {
    const video = pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
    await video.sender.replaceTrack(window.rtc.media.getVideoTracks()[0]);
    video.direction = "sendrecv";
  }
  return await window.rtcLocal(await pc.createAnswer(), trickle);
}"""
TAKE_CANDIDATES = "() => window.rtcCandidates.splice(0)"
ADD_CANDIDATE = "async (candidate) => { await window.rtc.pc.addIceCandidate(candidate); }"
APPLY_ANSWER = """async (sdp) => {
  await window.rtc.pc.setRemoteDescription({type: "answer", sdp});
}"""
ADD_VIDEO = (
    "() => { window.rtc.pc.addTrack(window.rtc.media.getVideoTracks()[0], window.rtc.media); }"
)
STATS = """async () => {
  const pc = window.rtc.pc;
  const stats = await pc.getStats();
  let frames = 0, audio = 0, pair = null, transport = null;
  for (const s of stats.values()) {
    if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") audio += s.packetsReceived || 0;
    if (s.type === "transport") transport = s;
  }
  if (transport && transport.selectedCandidatePairId) {
    pair = stats.get(transport.selectedCandidatePairId);
  }
  const local = pair ? stats.get(pair.localCandidateId) : null;
  return {frames, audio, state: pc.connectionState, ufrag: local ? local.usernameFragment : null};
}"""


class ChromeDevice:
    """One JSON device: signalling in Python, WebRTC in Chromium."""

    def __init__(self, client: JsonClient, page: Any) -> None:
        self.client = client
        self.page = page
        self.call_id = ""

    async def offer(self, *, restart: bool = False) -> str:
        sdp: str = await self.page.evaluate(OFFER, restart)
        await self.client.send(type="sdp_offer", call_id=self.call_id, sdp=sdp)
        return sdp

    async def answer(self, *, add_video: bool = False, trickle: bool = False) -> tuple[str, str]:
        """Answer the next offer; with `trickle`, at once, the candidates following as
        ``ice_candidate`` messages (as browsers do)."""
        offer = await self.client.next("sdp_offer", call_id=self.call_id, timeout=TIMEOUT)
        sdp: str = await self.page.evaluate(
            ANSWER, {"sdp": offer["sdp"], "addVideo": add_video, "trickle": trickle}
        )
        await self.client.send(type="sdp_answer", call_id=self.call_id, sdp=sdp)
        return offer["sdp"], sdp

    async def send_candidates(self, seconds: float = 3.0) -> int:
        """Send the candidates Chrome trickles for `seconds`; how many."""
        sent = 0
        for _ in range(int(seconds / 0.1)):
            for candidate in await self.page.evaluate(TAKE_CANDIDATES):
                await self.client.send(
                    type="ice_candidate", call_id=self.call_id, candidate=candidate
                )
                sent += 1
            await asyncio.sleep(0.1)
        return sent

    async def apply_candidates(self) -> int:
        """Give Chrome the ``ice_candidate`` messages received so far; how many."""
        applied = 0
        while any(m["type"] == "ice_candidate" for m in self.client.backlog):
            message = await self.client.next("ice_candidate", call_id=self.call_id)
            await self.page.evaluate(ADD_CANDIDATE, message["candidate"])
            applied += 1
        return applied

    async def take_answer(self) -> str:
        answer = await self.client.next("sdp_answer", call_id=self.call_id, timeout=TIMEOUT)
        await self.page.evaluate(APPLY_ANSWER, answer["sdp"])
        sdp: str = answer["sdp"]
        return sdp

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.page.evaluate(STATS)
        return stats

    async def frames_beyond(self, frames: int, audio: int = 0) -> dict[str, Any]:
        """Until more than `frames` video frames were decoded (and `audio` packets came)."""
        stats: dict[str, Any] = {}
        try:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    stats = await self.stats()
                    if stats["frames"] > frames and stats["audio"] > audio:
                        return stats
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"media stopped: {stats}") from None


@asynccontextmanager
async def two_devices(
    server: RunningServer, *, video: bool
) -> AsyncIterator[tuple[ChromeDevice, ChromeDevice]]:
    """alice calls bob; both connected, media flowing."""
    await server.add_user("alice")
    await server.add_user("bob")
    async with (
        chromium() as browser,
        json_client(server, "alice") as a,
        json_client(server, "bob") as b,
    ):
        pages = []
        for _ in range(2):
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{server.http_url}/")
            await page.evaluate(SETUP, video)
            pages.append(page)
        alice, bob = ChromeDevice(a, pages[0]), ChromeDevice(b, pages[1])
        await a.send(type="call_initiate", to="bob", call_type="video" if video else "audio")
        call_id = (await a.next("call_initiated"))["call_id"]
        await b.next("call_incoming", call_id=call_id)
        await b.send(type="call_accept", call_id=call_id)
        await a.next("call_accepted", call_id=call_id)
        alice.call_id = bob.call_id = call_id
        await alice.offer()
        await bob.answer()
        await alice.take_answer()
        await alice.frames_beyond(5 if video else -1, 5)
        await bob.frames_beyond(5 if video else -1, 5)
        yield alice, bob


async def test_chrome_ice_restart_through_the_bridge(xmpp_server: RunningServer) -> None:
    require_chromium()
    async with two_devices(xmpp_server, video=True) as (alice, bob):
        before = await alice.stats()
        restart = await alice.offer(restart=True)
        assert before["ufrag"] not in ufrags(restart)  # Chrome's real restart
        offer, answer = await bob.answer()
        assert ufrags(offer) == ufrags(restart)
        final = await alice.take_answer()
        assert ufrags(final) == ufrags(answer)
        assert ufrags(answer).isdisjoint(ufrags(offer))

        after = await alice.frames_beyond(before["frames"] + 20)
        assert after["ufrag"] in ufrags(restart)  # the pair in use is the new one
        await bob.frames_beyond((await bob.stats())["frames"] + 20)
        assert (await call_record(xmpp_server, alice.call_id, "active")).end_reason is None


async def test_chrome_audio_call_upgraded_to_video(xmpp_server: RunningServer) -> None:
    require_chromium()
    async with two_devices(xmpp_server, video=False) as (alice, bob):
        assert (await alice.stats())["frames"] == 0
        await alice.page.evaluate(ADD_VIDEO)
        await alice.offer()
        offer, _ = await bob.answer(add_video=True)
        assert [kind for kind, _ in media_ports(offer)] == ["audio", "video"]
        final = await alice.take_answer()
        assert [kind for kind, port in media_ports(final) if port] == ["audio", "video"]
        await alice.frames_beyond(10)
        await bob.frames_beyond(10)


async def test_chrome_ice_restart_answered_with_trickled_candidates(
    xmpp_server: RunningServer,
) -> None:
    """The answer to a restart has no candidates yet: the bridge says nothing until the
    first one, which carries the new credentials (COMPAT(Conversations) in
    bridge/renegotiation.py); the offerer's answer then holds it, and the rest trickle."""
    require_chromium()
    async with two_devices(xmpp_server, video=True) as (alice, bob):
        before = await alice.stats()
        restart = await alice.offer(restart=True)
        _, answer = await bob.answer(trickle=True)
        assert "a=candidate" not in answer
        sending = asyncio.create_task(bob.send_candidates())
        final = await alice.take_answer()
        assert ufrags(final) == ufrags(answer)
        assert "a=candidate" in final
        assert await sending > 0
        await asyncio.sleep(0.5)
        await alice.apply_candidates()
        after = await alice.frames_beyond(before["frames"] + 20)
        assert after["ufrag"] in ufrags(restart)
