"""Jingle in the shapes the two most used native callers send, as seen in their published
traffic: Conversations (libwebrtc on Android: one BUNDLEd content named ``0``, libwebrtc's long
audio codec list, candidates inside the session-initiate) and Dino (GStreamer + libnice:
contents named ``audio``/``video``, no BUNDLE group, RTP and RTCP candidates — components 1 and
2 — although it offers rtcp-mux, more candidates trickled in ``transport-info`` carrying an
``initiator`` attribute). Addresses, keys and ids in the files are our own.

Each converts to an SDP offer that a real WebRTC stack (aiortc) accepts and answers, and the
answer goes back as a session-accept for the same contents.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, fromstring

import pytest

from xmpp_video.bridge.sdp import jingle_candidates, jingle_to_sdp, sdp_to_jingle
from xmpp_video.bridge.sdp_jingle import JINGLE, RTP
from xmpp_video.bridge.sdp_text import parse_sdp
from xmpp_video.xml import serialize

aiortc = pytest.importorskip("aiortc")
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.sdp import SessionDescription  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
JULIET = "juliet@example.org/balcony"
ROMEO = "romeo@example.org/orchard"


def _load(name: str) -> Element:
    return fromstring((GOLDEN / f"{name}.xml").read_text())


def _payload_ids(jingle: Element) -> list[list[int]]:
    return [
        [int(pt.get("id", "-1")) for pt in description.iter(f"{{{RTP}}}payload-type")]
        for description in jingle.iter(f"{{{RTP}}}description")
    ]


def _content_names(jingle: Element) -> list[str]:
    return [content.get("name", "") for content in jingle.findall(f"{{{JINGLE}}}content")]


async def _aiortc_answer(offer: str) -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


@pytest.mark.parametrize(
    ("name", "mids", "bundled"),
    [
        ("conversations-session-initiate", ["0"], True),
        ("dino-session-initiate", ["audio", "video"], False),
    ],
)
def test_the_offer_keeps_contents_codecs_and_candidates(
    name: str, mids: list[str], bundled: bool
) -> None:
    jingle = _load(name)
    offer = jingle_to_sdp(jingle)
    parsed = SessionDescription.parse(offer)
    assert [media.rtp.muxId for media in parsed.media] == mids
    assert [[codec.payloadType for codec in media.rtp.codecs] for media in parsed.media] == (
        _payload_ids(jingle)
    )
    assert ("a=group:BUNDLE" in offer) == bundled
    sent = sum(1 for _ in jingle.iter("{urn:xmpp:jingle:transports:ice-udp:1}candidate"))
    assert sum(len(media.ice_candidates) for media in parsed.media) == sent
    for media in parsed.media:
        assert media.dtls is not None
        assert media.dtls.role == "auto"  # setup actpass
        assert media.rtcp_mux


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["conversations-session-initiate", "dino-session-initiate"])
async def test_aiortc_answers_the_offer_and_the_accept_names_the_same_contents(name: str) -> None:
    jingle = _load(name)
    answer = await _aiortc_answer(jingle_to_sdp(jingle))
    accept = fromstring(
        serialize(
            sdp_to_jingle(
                answer, action="session-accept", sid=jingle.get("sid", ""), responder=JULIET
            ),
            default_ns="",
        )
    )
    assert _content_names(accept) == _content_names(jingle)
    assert parse_sdp(jingle_to_sdp(accept)) == parse_sdp(answer)
    # every codec the answer chose was offered, in the content that offered it
    offered = _payload_ids(jingle)
    for index, chosen in enumerate(_payload_ids(accept)):
        assert chosen
        assert set(chosen) <= set(offered[index])


def test_trickled_rtcp_and_relay_candidates_reach_the_right_media() -> None:
    """Dino's transport-info: an srflx RTP candidate and a relay RTCP one (component 2) for the
    ``video`` content, found as candidates of m-line 1 with their component kept."""
    info = _load("dino-transport-info")
    received = jingle_candidates(info, mids=("audio", "video"))
    assert [(c.sdp_mid, c.sdp_mline_index) for c in received] == [("video", 1), ("video", 1)]
    fields = [c.candidate.removeprefix("candidate:").split() for c in received]
    assert [(f[1], f[4], f[5], f[7]) for f in fields] == [
        ("1", "203.0.113.19", "40218", "srflx"),
        ("2", "203.0.113.200", "61433", "relay"),
    ]
    assert "raddr 192.0.2.81 rport 50415" in received[1].candidate
