"""What the renegotiation tests share: a JSON device's second offer/answer with aiortc, and
the SDP rewrites that stand in for what aiortc cannot do.

aiortc (1.16) has no ``restartIce()``: its ICE agent keeps its credentials for the life of the
connection. An ICE restart is therefore played by rewriting ``a=ice-ufrag``/``a=ice-pwd`` in
the SDP a device sends (the server sees a real restart; aiortc, given the other side's new
credentials, keeps its working pair, so media flow on). Adding a track and renegotiating does
work in aiortc: the new m-line joins the BUNDLE transport.
"""

from __future__ import annotations

import re
import secrets
import string

from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from tests.interop.json_webrtc import TIMEOUT, JsonWebRtc

_ALPHABET = string.ascii_letters + string.digits


def _token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_credentials(sdp: str) -> tuple[str, str, str]:
    """`sdp` with fresh ICE credentials on every m-line: (sdp, ufrag, pwd)."""
    ufrag, pwd = _token(8), _token(24)
    sdp = re.sub(r"(?m)^a=ice-ufrag:\S+", f"a=ice-ufrag:{ufrag}", sdp)
    sdp = re.sub(r"(?m)^a=ice-pwd:\S+", f"a=ice-pwd:{pwd}", sdp)
    return sdp, ufrag, pwd


def ufrags(sdp: str) -> set[str]:
    return set(re.findall(r"(?m)^a=ice-ufrag:(\S+)", sdp))


def media_ports(sdp: str) -> list[tuple[str, int]]:
    """(kind, port) of each m-line."""
    return [(k, int(p)) for k, p in re.findall(r"(?m)^m=(\w+) (\d+) ", sdp)]


def disable(sdp: str, kind: str) -> str:
    """`sdp` with the m-lines of `kind` at port 0 (rejected / removed)."""
    return re.sub(rf"(?m)^m={kind} \d+ ", f"m={kind} 0 ", sdp)


async def offer_again(device: JsonWebRtc, *, restart: bool = False, ref: str = "re") -> str:
    """A new offer from `device` in its call (its local description is set first); with
    `restart`, under new ICE credentials. Returns the SDP sent."""
    await device.pc.setLocalDescription(await device.pc.createOffer())
    sdp = device.pc.localDescription.sdp
    if restart:
        sdp = new_credentials(sdp)[0]
    await device.client.send(type="sdp_offer", call_id=device.call_id, sdp=sdp, id=ref)
    return sdp


async def take_answer(device: JsonWebRtc) -> str:
    """The ``sdp_answer`` to `device`'s offer, applied."""
    answer = await device.client.next("sdp_answer", call_id=device.call_id, timeout=TIMEOUT)
    await device.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    sdp: str = answer["sdp"]
    return sdp


async def answer_offer(
    device: JsonWebRtc,
    *,
    restart: bool = False,
    send: bool = True,
    track: MediaStreamTrack | None = None,
) -> tuple[str, str]:
    """Take the next ``sdp_offer`` of `device`'s call and answer it (with new ICE credentials
    if `restart`; sending `track` too, if given). Returns the offer and the answer (sent
    unless `send` is off)."""
    offer = await device.client.next("sdp_offer", call_id=device.call_id, timeout=TIMEOUT)
    await device.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    if track is not None:
        device.pc.addTrack(track)
    await device.pc.setLocalDescription(await device.pc.createAnswer())
    sdp = device.pc.localDescription.sdp
    if restart:
        sdp = new_credentials(sdp)[0]
    if send:
        await device.client.send(type="sdp_answer", call_id=device.call_id, sdp=sdp)
    return offer["sdp"], sdp
