"""Hypothesis round trips over generated sessions: SDP text, Jingle elements and the wire form
of both give back the same (normalized) session."""

from __future__ import annotations

from dataclasses import replace
from xml.etree.ElementTree import fromstring

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.bridge.sdp_strategies import sessions
from xmpp_video.bridge.sdp import jingle_to_sdp, sdp_to_jingle
from xmpp_video.bridge.sdp_jingle import ICE_UDP, jingle_to_session, session_to_jingle
from xmpp_video.bridge.sdp_model import Role, Session, Setup, normalize
from xmpp_video.bridge.sdp_text import parse_sdp, write_sdp
from xmpp_video.xml import serialize

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
roles = st.sampled_from(Role)


@SETTINGS
@given(sessions())
def test_generated_sessions_are_normalized(session: Session) -> None:
    assert normalize(session) == session


@SETTINGS
@given(sessions())
def test_sdp_text_round_trip(session: Session) -> None:
    assert parse_sdp(write_sdp(session)) == session


@SETTINGS
@given(sessions(), roles)
def test_jingle_round_trip(session: Session, role: Role) -> None:
    jingle = session_to_jingle(
        session,
        action="content-add",
        sid="s1",
        initiator=None,
        responder=None,
        creator="initiator",
        role=role,
    )
    assert jingle_to_session(jingle, role=role) == session


@SETTINGS
@given(sessions(), roles)
def test_sdp_to_jingle_to_sdp_on_the_wire(session: Session, role: Role) -> None:
    """SDP → Jingle → XML bytes (as a stanza is sent) → parsed → SDP: the same session."""
    sdp = write_sdp(session)
    jingle = sdp_to_jingle(sdp, action="content-add", sid="s1", role=role)
    wire = fromstring(serialize(jingle, default_ns=""))
    back = jingle_to_sdp(wire, role=role)
    assert parse_sdp(sdp) == session
    # content-add is an offer: a fingerprint that came without a=setup gets actpass
    assert parse_sdp(back) == _with_default_setup(session, Setup.ACTPASS)


@SETTINGS
@given(sessions(), roles)
def test_jingle_to_sdp_to_jingle(session: Session, role: Role) -> None:
    """Jingle → SDP → Jingle: the same session, and the same elements (but candidate ids,
    which SDP does not carry and which are derived again)."""
    jingle = session_to_jingle(
        session,
        action="transport-replace",
        sid="s1",
        initiator=None,
        responder=None,
        creator="responder",
        role=role,
    )
    sdp = jingle_to_sdp(jingle, role=role)
    again = sdp_to_jingle(sdp, action="transport-replace", sid="s1", creator="responder", role=role)
    expected = _with_default_setup(jingle_to_session(jingle, role=role), Setup.ACTPASS)
    assert jingle_to_session(again, role=role) == expected
    for before, after in zip(jingle.iter(), again.iter(), strict=True):
        assert before.tag == after.tag
        if before.tag != f"{{{ICE_UDP}}}candidate":  # SDP has no candidate ids
            assert before.attrib == after.attrib or before.tag.endswith("fingerprint")


def _with_default_setup(session: Session, setup: Setup) -> Session:
    media = tuple(
        m if m.setup is not None or not m.fingerprints else replace(m, setup=setup)
        for m in session.media
    )
    return replace(session, media=media)


@pytest.mark.parametrize("role", list(Role))
def test_senders_follow_the_writer(role: Role) -> None:
    """sendonly written by the initiator is senders='initiator'; by the responder,
    'responder'; recvonly is the other party."""
    base = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:a\r\na=sendonly\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtpmap:96 VP8/90000\r\na=recvonly\r\n"
        "a=extmap:3/sendonly urn:x\r\n"
    )
    jingle = session_to_jingle(
        base,
        action="content-add",
        sid="s",
        initiator=None,
        responder=None,
        creator="initiator",
        role=role,
    )
    contents = jingle.findall("{urn:xmpp:jingle:1}content")
    other = "responder" if role is Role.INITIATOR else "initiator"
    assert [c.get("senders") for c in contents] == [role.value, other]
    hdrext = jingle.find(".//{urn:xmpp:jingle:apps:rtp:rtp-hdrext:0}rtp-hdrext")
    assert hdrext is not None
    assert hdrext.get("senders") == role.value
    # read by the same role, the directions come back; read as the other party's, reversed
    assert jingle_to_session(jingle, role=role) == base
    flipped = jingle_to_session(jingle, role=Role(other))
    assert [m.direction.value for m in flipped.media] == ["recvonly", "sendonly"]
