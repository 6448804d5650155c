#!/usr/bin/env python3
"""Make or answer one voice/video call through an xmpp-video server, from the command line.

    python3 examples/call.py --user bob answer
    python3 examples/call.py --user alice call bob --video --duration 10

Logs in over HTTP (SPEC §4), fetches TURN credentials, speaks the JSON protocol on ``/ws``
(SPEC §5) and sends test media (silence, a green picture) or ``--play FILE`` with aiortc.
Exit status: 0 when the call ended normally (a hang-up on either side, ``--duration``, Ctrl-C,
``--reject``), 1 on any failure, 2 on bad arguments. Needs ``pip install aiortc websockets``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.rtcicetransport import RTCIceCandidate
from aiortc.rtcsessiondescription import RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

PASSWORD_ENV = "XMPP_VIDEO_PASSWORD"  # noqa: S105 (a variable name, no secret)
ENDED = {  # call_ended and call_rejected reasons (SPEC §5); others are printed as is
    "hangup": "{peer} hung up",
    "cancelled": "{peer} hung up before the call was answered",
    "timeout": "nobody answered",
    "busy": "{peer} is busy",
    "decline": "{peer} declined the call",
    "unavailable": "{peer} is not available",
    "failed": "the call failed (the other side could not set it up)",
    "answered_elsewhere": "answered on another device",
    "rejected_elsewhere": "rejected on another device",
    "terminated_by_admin": "an administrator ended the call",
    "server_shutdown": "the server is shutting down",
}
STARTED = time.monotonic()
Message = dict[str, Any]


class Failure(Exception):
    """An error that ends the program with its message and exit status 1."""


def say(text: str, *, error: bool = False) -> None:
    """Print one line (errors to stderr), stamped with the seconds since the start."""
    stream = sys.stderr if error else sys.stdout
    print(f"[{time.monotonic() - STARTED:5.1f}s] {text}", file=stream, flush=True)


def http_json(url: str, body: Message | None, token: str | None, tls: ssl.SSLContext | None) -> Any:
    """POST ``body`` (GET without one) and return the JSON answer; any error → Failure."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers)  # noqa: S310 (http/https, checked)
    try:
        with urllib.request.urlopen(request, timeout=10, context=tls) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as exc:
        answer = {"error": exc.reason, "message": ""}
        with contextlib.suppress(ValueError):  # SPEC §4: {"error": code, "message": text}
            answer = json.load(exc)
        raise Failure(f"HTTP {exc.code} {answer['error']}: {answer['message']}") from None
    except OSError as exc:  # URLError included
        raise Failure(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


class Phone:
    """One call on one WebSocket: the JSON signalling and the aiortc peer connection."""

    ws: ClientConnection

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ice: list[RTCIceServer] = []  # STUN/TURN, from /api/turn/credentials
        try:  # --play: PyAV raises its own errors for a file it cannot read
            self.player = MediaPlayer(args.play, loop=True) if args.play else None
        except Exception as exc:
            raise Failure(f"cannot play {args.play}: {exc}") from None
        self.peer: str = args.peer if args.command == "call" else "the caller"
        self.call_id: str | None = None
        self.pc: RTCPeerConnection | None = None
        self.early: list[RTCIceCandidate | None] = []  # candidates before the remote description
        self.frames: dict[str, int] = {}  # frames received this second, by kind
        self.sent: dict[str, str] = {}  # our message ids → their type, to explain errors
        self.tasks: set[asyncio.Task[None]] = set()
        self.result: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def run(self, ws: ClientConnection, token: str) -> int:
        """Authenticate, then call or wait, until the call ends; the exit status."""
        self.ws = ws
        try:
            await self.send("auth", token=token)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except (TimeoutError, ConnectionClosed):
            raise Failure(f"no JSON protocol on /ws ({ws.close_code} {ws.close_reason})") from None
        if reply.get("type") != "auth_ok":
            raise Failure(f"the WebSocket refused the token: {reply.get('message', reply)}")
        say(f"connected as {reply['jid']}")
        if self.args.command == "call":
            kind = "video" if self.args.video else "audio"
            await self.send("call_initiate", to=self.args.peer, call_type=kind)
        else:
            say("waiting for a call (Ctrl-C to stop)")
        self.spawn(self.receive())
        self.spawn(self.report_frames())
        try:
            return await self.result
        finally:
            if self.pc is not None:
                await self.pc.close()
            for track in (self.player.audio, self.player.video) if self.player else ():
                if track is not None:
                    track.stop()
            await ws.close()

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self.tasks.add(task)  # a reference, until it is done
        task.add_done_callback(self.tasks.discard)

    async def send(self, type_: str, **fields: Any) -> None:
        ident = f"{type_}-{len(self.sent) + 1}"
        self.sent[ident] = type_
        await self.ws.send(json.dumps({"type": type_, "id": ident, **fields}))

    def finish(self, status: int, text: str) -> None:
        """Print how it ended and let `run` return ``status``; only the first call counts."""
        if not self.result.done():
            say(text, error=status != 0)
            self.result.set_result(status)

    async def hang_up(self, status: int, text: str) -> None:
        """End the call on our side (``call_end``), or stop waiting for one."""
        if self.call_id is not None and not self.result.done():
            with contextlib.suppress(ConnectionClosed):
                await self.send("call_end", call_id=self.call_id)
        self.finish(status, text)

    def interrupt(self) -> None:
        self.spawn(self.hang_up(0, "hung up" if self.call_id else "stopped"))

    async def hang_up_later(self) -> None:
        if self.args.duration is not None:
            await asyncio.sleep(self.args.duration)
            await self.hang_up(0, f"hung up after {self.args.duration:g} s")

    # -- server messages: each type has its on_<type> method; other types are ignored ------

    async def receive(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                message = json.loads(text)
                type_ = message.get("type")
                other = message.get("call_id") not in (None, self.call_id)
                if self.call_id and other and type_ != "call_incoming":
                    continue  # about another call (one we refused as busy)
                try:
                    await getattr(self, f"on_{type_}", self.on_other)(message)
                except ConnectionClosed:
                    raise
                except Exception as exc:
                    await self.hang_up(1, f"error while handling {type_}: {exc!r}")
        code, reason = self.ws.close_code, self.ws.close_reason
        lost = code in (None, 1006)  # no close frame: the network or the server died
        self.finish(1, "lost the connection to the server" if lost else f"closed: {code} {reason}")

    async def on_other(self, message: Message) -> None:
        pass  # pong, and whatever a newer server may add

    async def on_call_initiated(self, message: Message) -> None:
        self.call_id = message["call_id"]
        say(f"calling {self.peer} (call {self.call_id})")

    async def on_call_ringing(self, message: Message) -> None:
        say(f"ringing {self.peer}…")

    async def on_call_accepted(self, message: Message) -> None:
        self.peer = message.get("by", self.peer)
        say(f"{self.peer} answered; sending the offer")
        self.spawn(self.hang_up_later())
        pc = self.peer_connection(["audio", "video"] if self.args.video else ["audio"])
        await pc.setLocalDescription(await pc.createOffer())  # gathers every ICE candidate
        await self.send("sdp_offer", call_id=self.call_id, sdp=pc.localDescription.sdp)

    async def on_sdp_answer(self, message: Message) -> None:
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
        await self.add_candidates()

    async def on_call_incoming(self, message: Message) -> None:
        if self.call_id is not None:
            await self.send("call_reject", call_id=message["call_id"], reason="busy")
            return
        self.call_id, self.peer = message["call_id"], message["from"]
        say(f"incoming {message.get('call_type', 'audio')} call from {self.peer}")
        if self.args.reject:
            await self.send("call_reject", call_id=self.call_id, reason="decline")
            self.finish(0, "rejected the call")
            return
        await self.send("call_accept", call_id=self.call_id)
        say("answered; waiting for the offer")
        self.spawn(self.hang_up_later())

    async def on_sdp_offer(self, message: Message) -> None:
        pc = self.peer_connection([])
        await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
        self.add_tracks(pc, [t.kind for t in pc.getTransceivers()])  # what the caller offers
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send("sdp_answer", call_id=self.call_id, sdp=pc.localDescription.sdp)
        say("sent the answer")
        await self.add_candidates()

    async def on_ice_candidate(self, message: Message) -> None:
        # Ours are all in the SDP (aiortc gathers before it returns a description), so we never
        # trickle; the peer (a browser, Conversations…) may, and we apply what it sends.
        fields, candidate = message.get("candidate"), None
        if fields:  # null: the end of the peer's candidates
            candidate = candidate_from_sdp(fields["candidate"].removeprefix("candidate:"))
            candidate.sdpMid = fields.get("sdpMid")
            candidate.sdpMLineIndex = fields.get("sdpMLineIndex")
        self.early.append(candidate)
        if self.pc is not None and self.pc.remoteDescription is not None:
            await self.add_candidates()

    async def on_call_ended(self, message: Message) -> None:
        reason = str(message.get("reason", "hangup"))
        text = ENDED.get(reason, reason).format(peer=self.peer)
        self.finish(0 if reason == "hangup" else 1, f"call ended: {text}")

    on_call_rejected = on_call_ended  # reason: busy or decline

    async def on_error(self, message: Message) -> None:
        about = self.sent.get(message.get("ref", ""), "a message")
        text = f"{message.get('code')}: {message.get('message')}"
        if message.get("code") == "user_unavailable":
            self.finish(1, f"{self.peer} is not available ({message.get('message')})")
        elif about == "ice_candidate":
            say(f"warning: the server refused {about}: {text}", error=True)
        else:
            await self.hang_up(1, f"the server refused {about}: {text}")

    async def on_server_shutdown(self, message: Message) -> None:
        self.finish(1, "the server is shutting down")

    # -- media ------------------------------------------------------------------------------

    def peer_connection(self, kinds: list[str]) -> RTCPeerConnection:
        """A peer connection with our TURN servers, sending a track of each kind."""
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            say(f"media connection {pc.connectionState}")
            if pc.connectionState == "failed":
                await self.hang_up(1, "the media connection failed (TURN_URIS? a firewall?)")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            say(f"receiving {track.kind}")
            self.spawn(self.count_frames(track))

        self.add_tracks(pc, kinds)
        return pc

    def add_tracks(self, pc: RTCPeerConnection, kinds: list[str]) -> None:
        for kind in kinds:
            track = getattr(self.player, kind, None)  # --play, if the file has this kind
            pc.addTrack(track or (AudioStreamTrack() if kind == "audio" else VideoStreamTrack()))

    async def add_candidates(self) -> None:
        assert self.pc is not None
        while self.early:
            await self.pc.addIceCandidate(self.early.pop(0))

    async def count_frames(self, track: MediaStreamTrack) -> None:
        self.frames.setdefault(track.kind, 0)
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.frames[track.kind] += 1

    async def report_frames(self) -> None:
        while True:
            await asyncio.sleep(1)
            if self.frames:
                rates = ", ".join(f"{kind} {n}" for kind, n in sorted(self.frames.items()))
                say(f"frames/s received: {rates}")
                self.frames = dict.fromkeys(self.frames, 0)


async def main(args: argparse.Namespace, password: str) -> int:
    """Log in, fetch TURN credentials, open the WebSocket and hand over to a `Phone`."""
    phone = Phone(args)  # opens --play first: a bad file fails before anything else
    server = args.server.rstrip("/")
    tls = ssl.create_default_context(cafile=args.cafile) if server.startswith("https") else None
    credentials = {"username": args.user, "password": password}
    try:
        login = await asyncio.to_thread(
            http_json, f"{server}/api/auth/login", credentials, None, tls
        )
    except Failure as exc:
        if "invalid_credentials" in str(exc):
            raise Failure(f"login refused: wrong user name or password for {args.user}") from None
        raise Failure(f"login failed: {exc}") from None
    say(f"logged in as {login['jid']}")
    token = login["access_token"]
    turn = await asyncio.to_thread(http_json, f"{server}/api/turn/credentials", None, token, tls)
    say(f"TURN servers: {', '.join(turn['uris']) or 'none (direct connections only)'}")
    ice = [RTCIceServer(turn["uris"], turn["username"], turn["password"])] if turn["uris"] else []
    phone.ice = ice
    ws_url = "ws" + server.removeprefix("http") + "/ws"  # http→ws, https→wss
    try:
        ws = await connect(ws_url, ssl=tls, open_timeout=10)
    except InvalidStatus as exc:
        raise Failure(f"{ws_url} refused the WebSocket: HTTP {exc.response.status_code}") from None
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise Failure(f"cannot open {ws_url}: {exc}") from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            asyncio.get_running_loop().add_signal_handler(sig, phone.interrupt)
    return await phone.run(ws, token)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="http://localhost:8080", help="HTTP API base URL")
    parser.add_argument("--user", required=True, help="user name (alice or alice@domain)")
    parser.add_argument("--password", help=f"password (default: ${PASSWORD_ENV}, else prompt)")
    parser.add_argument("--cafile", help="CA (or self-signed) certificate for an https server")
    media = argparse.ArgumentParser(add_help=False)
    media.add_argument("--duration", type=float, help="hang up N seconds after the answer")
    media.add_argument("--play", metavar="FILE", help="send this media file (default: test tracks)")
    commands = parser.add_subparsers(dest="command", required=True)
    call = commands.add_parser("call", parents=[media], help="call a user")
    call.add_argument("peer", help="the user to call (bob or bob@domain)")
    call.add_argument("--video", action="store_true", help="a video call (default: audio only)")
    answer = commands.add_parser("answer", parents=[media], help="wait for a call and answer it")
    answer.add_argument("--reject", action="store_true", help="decline the call instead")
    args = parser.parse_args()
    if not args.server.startswith(("http://", "https://")):
        parser.error("--server must be an http:// or https:// URL")
    return args


def read_password(args: argparse.Namespace) -> str:
    """--password, else $XMPP_VIDEO_PASSWORD, else a prompt (or one line from a pipe)."""
    password = args.password or os.environ.get(PASSWORD_ENV)
    if not password:
        prompt = f"password for {args.user}: "
        password = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
    if not password.strip():
        raise Failure(f"no password (use --password, ${PASSWORD_ENV} or the prompt)")
    return password.rstrip("\n")


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(asyncio.run(main(arguments, read_password(arguments))))
    except Failure as failure:
        say(f"error: {failure}", error=True)
        sys.exit(1)
    except (KeyboardInterrupt, EOFError):
        say("interrupted", error=True)
        sys.exit(130)
