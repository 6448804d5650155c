"""A JSON-protocol device with real WebRTC (aiortc): what a browser app does, in Python.

It drives SPEC §5 over `JsonClient` and an aiortc `RTCPeerConnection` with test audio and video
sources, and counts the frames it decodes from the other side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from aiortc.sdp import candidate_from_sdp

from tests.integration.http.jsonclient import JsonClient, json_client
from tests.server_fixtures import RunningServer

TIMEOUT = 20.0


def ice_servers(turn: dict[str, Any] | None, *, relay_only: bool = False) -> RTCConfiguration:
    """An RTCConfiguration from an /api/turn/credentials answer (None: no servers);
    ``relay_only``: gather relay candidates only (``iceTransportPolicy: "relay"``)."""
    if turn is None:
        return RTCConfiguration(iceServers=[])
    server = RTCIceServer(urls=turn["uris"], username=turn["username"], credential=turn["password"])
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=[server], iceTransportPolicy=policy)


class JsonWebRtc:
    def __init__(self, client: JsonClient, config: RTCConfiguration | None = None) -> None:
        self.client = client
        self.pc = RTCPeerConnection(config or RTCConfiguration(iceServers=[]))
        self.video_frames = 0
        self.audio_frames = 0
        self.call_id = ""
        self._readers: list[asyncio.Task[None]] = []
        self._candidates: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._readers.append(asyncio.get_running_loop().create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await track.recv()
                if track.kind == "video":
                    self.video_frames += 1
                else:
                    self.audio_frames += 1

    def _add_tracks(self, video: bool) -> None:
        self.pc.addTrack(AudioStreamTrack())
        if video:
            self.pc.addTrack(VideoStreamTrack())

    async def call(self, to: str, *, video: bool = True) -> str:
        await self.client.send(
            type="call_initiate", to=to, call_type="video" if video else "audio", id="call"
        )
        self.call_id = (await self.client.next("call_initiated", ref="call"))["call_id"]
        await self.client.next("call_accepted", call_id=self.call_id, timeout=TIMEOUT)
        self._add_tracks(video)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.client.send(
            type="sdp_offer", call_id=self.call_id, sdp=self.pc.localDescription.sdp, id="offer"
        )
        answer = await self.client.next("sdp_answer", call_id=self.call_id, timeout=TIMEOUT)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        self._follow_candidates()
        return self.call_id

    async def answer(self) -> str:
        incoming = await self.client.next("call_incoming", timeout=TIMEOUT)
        self.call_id = incoming["call_id"]
        await self.client.send(type="call_accept", call_id=self.call_id)
        offer = await self.client.next("sdp_offer", call_id=self.call_id, timeout=TIMEOUT)
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        self._add_tracks(incoming["call_type"] == "video")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.client.send(
            type="sdp_answer", call_id=self.call_id, sdp=self.pc.localDescription.sdp
        )
        self._follow_candidates()
        return self.call_id

    def _follow_candidates(self) -> None:
        self._candidates = asyncio.get_running_loop().create_task(self._apply_candidates())

    async def _apply_candidates(self) -> None:
        while True:
            message = await self.client.next("ice_candidate", call_id=self.call_id, timeout=3600)
            value = message.get("candidate")
            if not value or not value.get("candidate"):
                continue
            line = value["candidate"].removeprefix("candidate:")
            candidate = candidate_from_sdp(line)
            candidate.sdpMid = value.get("sdpMid")
            candidate.sdpMLineIndex = value.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)

    async def connected(self, timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while self.pc.connectionState != "connected":
                if self.pc.connectionState == "failed":
                    raise AssertionError("ICE/DTLS failed")
                await asyncio.sleep(0.05)

    async def frames(self, video: int, audio: int, timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while self.video_frames < video or self.audio_frames < audio:
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in [*self._readers, *([self._candidates] if self._candidates else [])]:
            task.cancel()
        await self.pc.close()


@dataclass
class JsonCall:
    """Alice's and Bob's JSON connections and WebRTC devices, and the id of their call."""

    a: JsonClient
    b: JsonClient
    alice: JsonWebRtc
    bob: JsonWebRtc
    call_id: str


@asynccontextmanager
async def json_call(server: RunningServer, *, video: bool) -> AsyncIterator[JsonCall]:
    """Alice calls Bob, both JSON devices (accounts "alice" and "bob" must exist); yields once
    Bob has answered (media may still be connecting); closes both devices at the end."""
    async with json_client(server, "alice") as a, json_client(server, "bob") as b:
        alice, bob = JsonWebRtc(a), JsonWebRtc(b)
        try:
            answering = asyncio.create_task(bob.answer())
            call_id = await alice.call("bob", video=video)
            assert await answering == call_id
            yield JsonCall(a, b, alice, bob, call_id)
        finally:
            await alice.close()
            await bob.close()
