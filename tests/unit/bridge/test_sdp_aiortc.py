"""Every converted description is accepted by a real WebRTC stack: aiortc's
``RTCPeerConnection.setRemoteDescription`` (offers on a fresh connection, answers on the offerer),
and a call set up through the converter connects over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from xml.etree.ElementTree import Element, fromstring

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.bridge.sdp_strategies import candidate_strategy, phrases, tokens, x_names
from xmpp_video.bridge.sdp import (
    Role,
    candidate_to_jingle,
    jingle_candidates,
    jingle_to_sdp,
    sdp_to_jingle,
    transport_info,
)
from xmpp_video.bridge.sdp_jingle import session_to_jingle
from xmpp_video.bridge.sdp_model import (
    Attribute,
    Direction,
    Feedback,
    Fingerprint,
    Group,
    HeaderExtension,
    Media,
    Origin,
    Parameter,
    PayloadType,
    Session,
    Setup,
    Source,
    SourceGroup,
    SourceParameter,
    normalize,
)
from xmpp_video.bridge.sdp_text import parse_sdp
from xmpp_video.xml import serialize

aiortc = pytest.importorskip("aiortc")
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack  # noqa: E402
from aiortc.sdp import SessionDescription, candidate_from_sdp  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
BROWSER_OFFERS = ["chrome-offer", "firefox-offer", "safari-offer", "aiortc-offer"]
JINGLE_OFFERS = ["xep-examples-session-initiate", "jingle-peer-session-initiate"]
ROMEO = "romeo@example.org/orchard"
JULIET = "juliet@example.org/balcony"


@asynccontextmanager
async def peer_connection() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback only: no STUN lookups
    try:
        yield pc
    finally:
        await pc.close()


def _wire(jingle: Element) -> Element:
    """The element as the peer receives it: serialized into a stanza and parsed again."""
    return fromstring(serialize(jingle, default_ns=""))


def _kinds_and_mids(sdp: str) -> list[tuple[str, str | None]]:
    return [(m.kind, m.rtp.muxId) for m in SessionDescription.parse(sdp).media]


async def _answer_offer(offer_sdp: str) -> str:
    """A fresh aiortc connection takes `offer_sdp` as remote offer and answers it."""
    async with peer_connection() as pc:
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        assert pc.signalingState == "have-remote-offer" or pc.signalingState == "stable"
        return str(pc.localDescription.sdp)


async def _check_offer_and_answer(offer_sdp: str, *, sid: str) -> None:
    """`offer_sdp` (converted from Jingle) is accepted as an offer; the answer, converted to a
    session-accept and back, parses and matches the offer m-line for m-line."""
    answer = await _answer_offer(offer_sdp)
    accept = _wire(
        sdp_to_jingle(answer, action="session-accept", sid=sid, responder=JULIET, role=None)
    )
    back = jingle_to_sdp(accept)
    assert parse_sdp(back) == parse_sdp(answer)
    assert _kinds_and_mids(back) == _kinds_and_mids(offer_sdp)
    for media in SessionDescription.parse(back).media:
        assert media.dtls is not None
        assert media.dtls.role in ("client", "server")  # an answer's setup is active/passive


@pytest.mark.asyncio
@pytest.mark.parametrize("name", BROWSER_OFFERS)
async def test_browser_offers_through_jingle_are_accepted(name: str) -> None:
    original = (GOLDEN / f"{name}.sdp").read_bytes().decode()
    jingle = _wire(sdp_to_jingle(original, action="session-initiate", sid=name, initiator=ROMEO))
    offer = jingle_to_sdp(jingle)
    await _check_offer_and_answer(offer, sid=name)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", JINGLE_OFFERS)
async def test_jingle_offers_are_accepted(name: str) -> None:
    jingle = fromstring((GOLDEN / f"{name}.xml").read_text())
    await _check_offer_and_answer(jingle_to_sdp(jingle), sid=name)


async def _connected(pc: RTCPeerConnection) -> None:
    while pc.connectionState != "connected":
        if pc.connectionState == "failed":
            raise AssertionError("the connection failed")
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_a_call_set_up_through_jingle_connects() -> None:
    """aiortc ⇄ Jingle ⇄ aiortc: the offer travels as session-initiate, the answer as
    session-accept (through XML bytes each time); both ends connect (ICE + DTLS) on loopback."""
    async with peer_connection() as caller, peer_connection() as callee:
        caller.addTrack(AudioStreamTrack())
        caller.addTrack(VideoStreamTrack())
        await caller.setLocalDescription(await caller.createOffer())
        initiate = _wire(
            sdp_to_jingle(
                caller.localDescription.sdp, action="session-initiate", sid="call", initiator=ROMEO
            )
        )
        await callee.setRemoteDescription(RTCSessionDescription(jingle_to_sdp(initiate), "offer"))
        for transceiver in callee.getTransceivers():
            track = AudioStreamTrack() if transceiver.kind == "audio" else VideoStreamTrack()
            transceiver.sender.replaceTrack(track)
            transceiver.direction = "sendrecv"
        await callee.setLocalDescription(await callee.createAnswer())
        accept = _wire(
            sdp_to_jingle(
                callee.localDescription.sdp, action="session-accept", sid="call", responder=JULIET
            )
        )
        await caller.setRemoteDescription(RTCSessionDescription(jingle_to_sdp(accept), "answer"))
        assert caller.signalingState == callee.signalingState == "stable"
        async with asyncio.timeout(30):
            await asyncio.gather(_connected(caller), _connected(callee))


@pytest.mark.asyncio
async def test_a_jingle_peer_session_accept_is_accepted_by_the_offerer() -> None:
    """The session-accept a Conversations-style peer sends (tests/interop/jingle_peer.py) is a
    valid answer to an aiortc offer of the same media."""
    accept = fromstring((GOLDEN / "jingle-peer-session-accept.xml").read_text())
    async with peer_connection() as caller:
        caller.addTrack(AudioStreamTrack())
        caller.addTrack(VideoStreamTrack())
        await caller.setLocalDescription(await caller.createOffer())
        await caller.setRemoteDescription(RTCSessionDescription(jingle_to_sdp(accept), "answer"))
        assert caller.signalingState == "stable"
        assert caller.remoteDescription is not None


@pytest.mark.asyncio
async def test_trickled_candidates_reach_aiortc_intact() -> None:
    """aiortc's candidates, trickled through transport-info, are the same candidates for
    aiortc's own parser."""
    async with peer_connection() as pc:
        pc.addTrack(AudioStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        parsed = SessionDescription.parse(pc.localDescription.sdp)
        mids = tuple(str(m.rtp.muxId) for m in parsed.media)
        for index, media in enumerate(parsed.media):
            for candidate in media.ice_candidates:
                line = "candidate:" + aiortc.sdp.candidate_to_sdp(candidate)
                name, transport = candidate_to_jingle(line, media.rtp.muxId, index)
                info = _wire(transport_info(sid="t", content=name, transport=transport))
                (received,) = jingle_candidates(info, mids=mids)
                assert received.sdp_mid == media.rtp.muxId
                assert received.sdp_mline_index == index
                again = candidate_from_sdp(received.candidate.removeprefix("candidate:"))
                assert (again.foundation, again.ip, again.port, again.priority, again.type) == (
                    candidate.foundation,
                    candidate.ip,
                    candidate.port,
                    candidate.priority,
                    candidate.type,
                )


# -- generated sessions -------------------------------------------------------------------

AUDIO = (PayloadType(111, "opus", 48000, 2, (Parameter("minptime", "10"),)),)
VIDEO = (
    PayloadType(96, "VP8", 90000, None, (), (Feedback("nack"), Feedback("nack", "pli"))),
    PayloadType(97, "rtx", 90000, None, (Parameter("apt", "96"),)),
)
EXTRA = st.lists(
    st.builds(
        PayloadType,
        st.integers(100, 127).filter(lambda pt: pt != 111),  # opus is 111
        tokens(alphabet="ABCDEFGHIJ"),
        st.sampled_from([8000, 90000]),
        st.none(),
        st.lists(st.builds(Parameter, tokens(alphabet="abcdefg-"), tokens()), max_size=2).map(
            tuple
        ),
        st.lists(
            st.builds(Feedback, st.sampled_from(["nack", "ccm", "goog-remb"])), max_size=2
        ).map(tuple),
    ),
    max_size=3,
    unique_by=lambda p: p.id,
)


@st.composite
def webrtc_media(draw: st.DrawFn, mid: str, ufrag: str, fingerprint: Fingerprint) -> Media:
    kind = draw(st.sampled_from(["audio", "video"]))
    ssrc = draw(st.integers(1, 2**32 - 2))
    stream, track = draw(tokens()), draw(tokens())
    cname = SourceParameter("cname", draw(tokens()))
    sources: tuple[Source, ...] = (Source(ssrc, (cname,)),)
    groups: tuple[SourceGroup, ...] = ()
    if kind == "video" and draw(st.booleans()):
        sources += (Source(ssrc + 1, (cname,)),)
        groups = (SourceGroup("FID", (ssrc, ssrc + 1)),)
    return Media(
        kind=kind,
        mid=mid,
        direction=draw(st.sampled_from(Direction)),
        rtcp_mux=True,
        payloads=(AUDIO if kind == "audio" else VIDEO) + tuple(draw(EXTRA)),
        header_extensions=(HeaderExtension(1, "urn:ietf:params:rtp-hdrext:sdes:mid"),),
        extmap_allow_mixed=draw(st.booleans()),
        sources=sources,
        source_groups=groups,
        msid=(f"{stream} {track}",),
        ufrag=ufrag,
        pwd="p" * 24,
        fingerprints=(fingerprint,),
        setup=Setup.ACTPASS,
        candidates=tuple(
            draw(st.lists(candidate_strategy(st.ip_addresses().map(str)), max_size=3))
        ),
        attributes=tuple(draw(st.lists(st.builds(Attribute, x_names(), phrases()), max_size=2))),
    )


@st.composite
def webrtc_sessions(draw: st.DrawFn) -> Session:
    mids = draw(st.lists(tokens(max_size=4), min_size=1, max_size=3, unique=True))
    ufrag = draw(tokens(min_size=4, max_size=8))
    fingerprint = Fingerprint("sha-256", ":".join(f"{b:02X}" for b in range(32)))
    media = tuple(draw(webrtc_media(mid, ufrag, fingerprint)) for mid in mids)
    return normalize(Session(media, (Group("BUNDLE", tuple(mids)),), Origin("-", "1", "1"), ()))


@pytest.mark.asyncio
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(webrtc_sessions())
async def test_generated_offers_are_accepted(session: Session) -> None:
    jingle = session_to_jingle(
        session,
        action="session-initiate",
        sid="gen",
        initiator=ROMEO,
        responder=None,
        creator="initiator",
        role=Role.INITIATOR,
    )
    await _check_offer_and_answer(jingle_to_sdp(_wire(jingle)), sid="gen")
