"""A native XMPP device with real WebRTC: slixmpp (JMI + Jingle, tests/interop/jingle_peer.py)
plus an aiortc ``RTCPeerConnection`` with test audio and video sources.

Its Jingle comes from tests/interop/jingle_sdp_min.py, a small translation of its own written
from the XEPs, never from the product's SDP⇄Jingle module: the server is tested against the
protocol, not against itself.

The call flow is Conversations': the caller proposes to the callee's bare JID (JMI) and waits
for a device's ``proceed``; the callee sends ``ringing``, then ``accept`` to its own bare JID and
``proceed`` to the caller's full JID; the caller sends ``session-initiate`` (its offer), the
callee answers with ``session-accept``; either side ends with ``session-terminate``.

aiortc notes:

* it does not trickle: ``setLocalDescription`` returns once every local candidate is gathered,
  so the candidates go in the session-initiate/-accept transports. With ``trickle=True`` the
  peer sends them instead one by one in ``transport-info`` iqs, as Conversations does.
* remote candidates arriving later in ``transport-info`` are added with ``addIceCandidate``
  (to the BUNDLE's first content when the content is bundled: aiortc ignores candidates for a
  bundled transceiver). Jingle has no end-of-candidates, so none is signalled: ICE succeeds on
  the first working pair and only a failure waits for the end.
* relay only: ``RTCConfiguration(iceTransportPolicy=RTCIceTransportPolicy.RELAY)`` exists
  (aiortc ≥ 1.6); aioice then gathers only TURN relay candidates, so ``relay_only=True`` needs
  TURN servers.
* only the sha-256 fingerprint is sent, as libwebrtc does (aiortc offers three).

    async with native_peer(server, "alice@localhost", resource="phone") as alice, native_peer(
        server, "bob@localhost", resource="laptop"
    ) as bob:
        answering = asyncio.create_task(bob.answer_next())
        call_id = await alice.call("bob@localhost")
        await answering
        await alice.wait_connected()
        await alice.frames_received(5)
        await alice.hangup()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp
from aiortc.sdp import candidate_to_sdp as aiortc_candidate_to_sdp

from tests.interop.jingle_peer import JingleIq, JinglePeer, call_peer, reason_element
from tests.interop.jingle_sdp_min import (
    ICE_UDP,
    JINGLE,
    RTP,
    bundle_groups,
    candidate_to_jingle,
    candidate_to_sdp,
    jingle_to_sdp,
    sdp_to_jingle,
    transport_candidates,
)
from tests.server_fixtures import PASSWORD, RunningServer

TIMEOUT = 15.0


def turn_servers(uris: Sequence[str], username: str, password: str) -> list[RTCIceServer]:
    """aiortc ICE servers from TURN REST credentials (e.g. ``/api/turn/credentials``)."""
    return [RTCIceServer(urls=list(uris), username=username, credential=password)]


@dataclass(frozen=True)
class FrameCounts:
    video: int
    audio: int


class CallRejectedError(Exception):
    """The callee refused the call (JMI ``reject``); `reason` is its Jingle reason."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(f"call rejected ({reason})")
        self.reason = reason


class NativeWebRtcPeer:
    """One native device: a `JinglePeer` (slixmpp) and an aiortc peer connection."""

    def __init__(
        self,
        peer: JinglePeer,
        *,
        ice_servers: Sequence[RTCIceServer] = (),
        relay_only: bool = False,
        trickle: bool = False,
    ) -> None:
        self.peer = peer
        self.trickle = trickle
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=list(ice_servers),
                iceTransportPolicy=(
                    RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
                ),
            )
        )
        self.call_id: str | None = None
        self.remote: str | None = None  # the other device's full JID
        self.role: str | None = None  # "initiator" or "responder"
        self.video_frames = 0
        self.audio_frames = 0
        self.remote_candidates: list[str] = []  # a=candidate values added from transport-info
        # (both lists as aiortc writes them)
        self.local_candidates: list[str] = []  # a=candidate values of our own description
        self.terminated: JingleIq | None = None  # the session-terminate the other side sent
        self.unhandled: list[JingleIq] = []  # other Jingle actions during the session
        self._bundle: list[list[str]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._connection = asyncio.Event()
        self._terminated = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._connection.set)

    @property
    def jid(self) -> str:
        return self.peer.jid

    @property
    def bare(self) -> str:
        return self.peer.bare

    # -- media ------------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coroutine))

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._spawn(self._count_frames(track))

    async def _count_frames(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()  # a decoded av.VideoFrame / av.AudioFrame
                if track.kind == "video":
                    self.video_frames += 1
                else:
                    self.audio_frames += 1

    def _add_tracks(self, media: Sequence[str]) -> None:
        if "audio" in media:
            self.pc.addTrack(AudioStreamTrack())
        if "video" in media:
            self.pc.addTrack(VideoStreamTrack())

    # -- signalling -------------------------------------------------------------------------

    def _local_jingle(self, action: str, call_id: str) -> Element:
        sdp = self.pc.localDescription.sdp
        self.local_candidates = [
            line.strip()[len("a=candidate:") :]
            for line in sdp.splitlines()
            if line.startswith("a=candidate:")
        ]
        role = "initiator" if action == "session-initiate" else "responder"
        return sdp_to_jingle(
            sdp,
            action,
            call_id,
            author=role,
            initiator=self.jid if role == "initiator" else None,
            responder=self.jid if role == "responder" else None,
            candidates=not self.trickle,
        )

    async def _trickle(self, sent: Element) -> None:
        """One transport-info per local candidate (when trickling), then nothing more."""
        assert self.remote is not None
        assert self.call_id is not None
        for content in sent.findall(f"{{{JINGLE}}}content"):
            transport = content.find(f"{{{ICE_UDP}}}transport")
            assert transport is not None
            name = content.get("name", "")
            section = self._section_candidates(name)
            for value in section:
                jingle = Element(
                    f"{{{JINGLE}}}jingle", {"action": "transport-info", "sid": self.call_id}
                )
                holder = SubElement(
                    jingle, f"{{{JINGLE}}}content", {"creator": "initiator", "name": name}
                )
                carrier = SubElement(holder, f"{{{ICE_UDP}}}transport", dict(transport.attrib))
                carrier.append(candidate_to_jingle(value))
                await self.peer.send_jingle(self.remote, jingle)

    def _section_candidates(self, mid: str) -> list[str]:
        values: list[str] = []
        current = None
        for line in self.pc.localDescription.sdp.splitlines():
            if line.startswith("m="):
                current = None
            elif line.startswith("a=mid:"):
                current = line.strip()[len("a=mid:") :]
            elif line.startswith("a=candidate:") and current == mid:
                values.append(line.strip()[len("a=candidate:") :])
        return values

    def _follow_session(self) -> None:
        self._spawn(self._session_iqs())

    async def _session_iqs(self) -> None:
        """Apply the other side's transport-info candidates; note its session-terminate."""
        while True:
            item = await self.peer.next_jingle(None, timeout=3600, sid=self.call_id)
            if item.action == "transport-info":
                for name, candidate in transport_candidates(item.element):
                    await self._add_remote_candidate(name, candidate)
            elif item.action == "session-terminate":
                self.terminated = item
                self._terminated.set()
                return
            else:
                self.unhandled.append(item)

    async def _add_remote_candidate(self, content: str, element: Element) -> None:
        candidate = candidate_from_sdp(candidate_to_sdp(element))
        mid = next((group[0] for group in self._bundle if content in group), content)
        candidate.sdpMid = mid
        self.remote_candidates.append(aiortc_candidate_to_sdp(candidate))
        await self.pc.addIceCandidate(candidate)

    # -- the API ----------------------------------------------------------------------------

    async def call(
        self, to_bare: str, media: Sequence[str] = ("audio", "video"), timeout: float = TIMEOUT
    ) -> str:
        """Ring every device of `to_bare`; once one proceeds, offer (session-initiate) and apply
        its session-accept. Returns the call id (JMI id = Jingle sid); raises
        `CallRejectedError` when a device rejects the call instead."""
        call_id = self.peer.propose(to_bare, media=media)
        self.call_id, self.role = call_id, "initiator"
        answer = await self.peer.jmi.get(
            lambda m: m.call_id == call_id and m.kind in ("proceed", "reject"),
            timeout,
            f"proceed or reject (call {call_id})",
        )
        if answer.kind == "reject":
            raise CallRejectedError(answer.reason)
        self.remote = answer.from_
        self._add_tracks(media)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        initiate = self._local_jingle("session-initiate", call_id)
        await self.peer.send_jingle(self.remote, initiate)
        if self.trickle:
            await self._trickle(initiate)
        accept = await self.peer.next_jingle("session-accept", timeout, sid=call_id)
        self._bundle = bundle_groups(accept.element)
        answer = jingle_to_sdp(accept.element, author="responder")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        self._follow_session()
        return call_id

    async def answer_next(self, accept: bool = True, timeout: float = TIMEOUT) -> str:
        """Take the next propose: ring, then either refuse it (``reject`` to the caller and to
        this user's other devices) or answer it (``accept`` to the own bare JID, ``proceed`` to
        the caller) and complete the session with session-accept. Returns the call id."""
        propose = await self.peer.next_jmi("propose", timeout)
        call_id, caller = propose.call_id, propose.from_
        self.call_id, self.remote, self.role = call_id, caller, "responder"
        self.peer.ringing(caller, call_id)
        if not accept:
            self.peer.reject(caller, call_id)
            self.peer.reject(self.bare, call_id)
            return call_id
        self.peer.accept_elsewhere(call_id)
        self.peer.proceed(caller, call_id)
        initiate = await self.peer.next_jingle("session-initiate", timeout, sid=call_id)
        self.remote = initiate.from_
        self._bundle = bundle_groups(initiate.element)
        offer = jingle_to_sdp(initiate.element, author="initiator")
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        descriptions = initiate.element.findall(f"{{{JINGLE}}}content/{{{RTP}}}description")
        self._add_tracks([d.get("media", "") for d in descriptions])
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        session_accept = self._local_jingle("session-accept", call_id)
        await self.peer.send_jingle(self.remote, session_accept)
        if self.trickle:
            await self._trickle(session_accept)
        self._follow_session()
        return call_id

    async def wait_connected(self, timeout: float = TIMEOUT) -> None:
        """Until ICE and DTLS are up (connectionState "connected"); fails on failed/closed."""
        async with asyncio.timeout(timeout):
            while (state := self.pc.connectionState) != "connected":
                if state in ("failed", "closed"):
                    raise AssertionError(f"peer connection of {self.jid} is {state}")
                self._connection.clear()
                await self._connection.wait()

    async def frames_received(
        self, min_frames: int = 5, timeout: float = TIMEOUT, *, audio: bool = True
    ) -> FrameCounts:
        """Until at least `min_frames` video frames (and as many audio frames, unless `audio` is
        off) were decoded from the other side."""
        try:
            async with asyncio.timeout(timeout):
                while self.video_frames < min_frames or (audio and self.audio_frames < min_frames):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise TimeoutError(
                f"{self.jid} decoded {self.video_frames} video and {self.audio_frames} audio "
                f"frames within {timeout}s, wanted {min_frames}"
            ) from None
        return FrameCounts(self.video_frames, self.audio_frames)

    async def hangup(self, reason: str = "success", *, finish: bool = False) -> None:
        """session-terminate to the other device (and a JMI ``finish`` if asked)."""
        if self.remote is None or self.call_id is None:
            raise RuntimeError(f"{self.jid} has no call to hang up")
        jingle = Element(
            f"{{{JINGLE}}}jingle", {"action": "session-terminate", "sid": self.call_id}
        )
        jingle.append(reason_element(reason))
        await self.peer.send_jingle(self.remote, jingle)
        if finish:
            self.peer.finish(self.remote, self.call_id, reason)
        await self.pc.close()

    async def wait_terminated(self, timeout: float = TIMEOUT) -> str | None:
        """The reason of the other side's session-terminate, once it came."""
        async with asyncio.timeout(timeout):
            await self._terminated.wait()
        assert self.terminated is not None
        return self.terminated.reason

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError, TimeoutError):
                await task
        await self.pc.close()


@asynccontextmanager
async def native_peer(
    server: RunningServer,
    jid: str,
    password: str = PASSWORD,
    *,
    resource: str | None = None,
    priority: int | None = None,
    ice_servers: Sequence[RTCIceServer] = (),
    relay_only: bool = False,
    trickle: bool = False,
) -> AsyncIterator[NativeWebRtcPeer]:
    """A logged-in, available native WebRTC device; its peer connection is closed at the end
    (before the XMPP session)."""
    async with call_peer(server, jid, password, resource=resource, priority=priority) as peer:
        native = NativeWebRtcPeer(
            peer, ice_servers=ice_servers, relay_only=relay_only, trickle=trickle
        )
        try:
            yield native
        finally:
            await native.close()
