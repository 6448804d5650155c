"""Trickle ICE: a JSON ``ice_candidate`` ⇄ a XEP-0176 transport-info, and the end of
candidates."""

from __future__ import annotations

from xml.etree.ElementTree import Element, fromstring

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.bridge.sdp_strategies import candidates
from xmpp_video.bridge.sdp import (
    IceCandidate,
    SdpError,
    candidate_to_jingle,
    jingle_candidate_to_sdp,
    jingle_candidates,
    transport_info,
)
from xmpp_video.bridge.sdp_jingle import ICE_UDP, JINGLE, SDP_EXT
from xmpp_video.bridge.sdp_model import Candidate
from xmpp_video.bridge.sdp_text import format_candidate, parse_candidate
from xmpp_video.xml import serialize

CHROME_SRFLX = (
    "candidate:2820158923 1 udp 1686052607 203.0.113.7 50734 typ srflx raddr 192.168.1.23"
    " rport 50734 generation 0 ufrag Kx3r network-id 1 network-cost 10"
)
FIREFOX_RELAY = (
    "candidate:3 1 UDP 92217087 198.51.100.30 61002 typ relay raddr 198.51.100.30 rport 61002"
)
TCP = "candidate:435653019 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active generation 0"
MDNS = "candidate:842163049 1 udp 2113937151 4c9a8b2e-1f3d.local 53120 typ host generation 0"


def _q(namespace: str, local: str) -> str:
    return "{" + namespace + "}" + local


def _wire(element: Element) -> Element:
    return fromstring(serialize(element, default_ns=""))


@pytest.mark.parametrize("line", [CHROME_SRFLX, FIREFOX_RELAY, TCP, MDNS])
def test_a_candidate_travels_through_transport_info(line: str) -> None:
    name, transport = candidate_to_jingle(line, "0", 0)
    assert name == "0"
    info = _wire(transport_info(sid="call-1", content=name, transport=transport))
    assert info.get("action") == "transport-info"
    assert info.get("sid") == "call-1"
    (received,) = jingle_candidates(info, mids=("0", "1"))
    assert received == IceCandidate(received.candidate, "0", 0)
    assert parse_candidate(received.candidate) == parse_candidate(line)
    assert received.as_json() == {
        "candidate": received.candidate,
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


def test_the_candidate_element_follows_xep_0176() -> None:
    _, transport = candidate_to_jingle(CHROME_SRFLX, "0", 0)
    assert transport.get("ufrag") == "Kx3r"  # the candidate's own ufrag extension
    (candidate,) = transport.findall(_q(ICE_UDP, "candidate"))
    assert candidate.attrib == {
        "component": "1",
        "foundation": "2820158923",
        "generation": "0",
        "id": candidate.get("id"),
        "ip": "203.0.113.7",
        "network": "1",
        "port": "50734",
        "priority": "1686052607",
        "protocol": "udp",
        "rel-addr": "192.168.1.23",
        "rel-port": "50734",
        "type": "srflx",
    }
    assert candidate.get("id")


def test_ufrag_and_pwd_can_be_given() -> None:
    _, transport = candidate_to_jingle(TCP, "audio", None, ufrag="u1", pwd="p" * 22)
    assert (transport.get("ufrag"), transport.get("pwd")) == ("u1", "p" * 22)


def test_candidate_ids_are_stable_and_distinct() -> None:
    first = candidate_to_jingle(TCP, "0", 0)[1][0].get("id")
    assert first == candidate_to_jingle(TCP, "0", 0)[1][0].get("id")
    assert first != candidate_to_jingle(TCP, "1", 1)[1][0].get("id")
    assert first != candidate_to_jingle(MDNS, "0", 0)[1][0].get("id")


@pytest.mark.parametrize("end", [None, "", "  "])
def test_end_of_candidates(end: str | None) -> None:
    name, transport = candidate_to_jingle(end, "1", 1)
    assert transport.find(_q(SDP_EXT, "end-of-candidates")) is not None
    assert transport.find(_q(ICE_UDP, "candidate")) is None
    (received,) = jingle_candidate_to_sdp(_wire(transport), name, mline_index=1)
    assert received.end_of_candidates
    assert received.as_json() == {"candidate": "", "sdpMid": "1", "sdpMLineIndex": 1}


def test_the_mid_comes_from_the_mline_index_when_missing() -> None:
    assert candidate_to_jingle(TCP, None, 1, mids=("audio", "video"))[0] == "video"
    assert candidate_to_jingle(TCP, "", 0)[0] == "0"  # libwebrtc's mids are the indexes


@pytest.mark.parametrize(
    ("candidate", "mid", "index"),
    [
        (TCP, None, None),
        (TCP, None, -1),
        (TCP, "a b", 0),
        ("candidate:1 1 udp", "0", 0),
        ("candidate:1 1 udp 1 1.2.3.4 9 typ host\r\na=setup:active", "0", 0),
        (TCP.replace("1518280447", "-1"), "0", 0),
    ],
)
def test_bad_candidates_are_refused(candidate: str, mid: str | None, index: int | None) -> None:
    with pytest.raises(SdpError):
        candidate_to_jingle(candidate, mid, index)


def test_a_transport_info_from_conversations() -> None:
    """Conversations-style transport-info (no ufrag extension, network attribute): every
    candidate of every content, with its m-line index when the mids are known."""
    info = fromstring(
        "<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='s'>"
        "<content creator='initiator' name='0'>"
        "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='pX7k' pwd='c3Vw'>"
        "<candidate component='1' foundation='1' generation='0' id='k2j5d8w1xq' ip='192.0.2.10'"
        " network='1' port='50000' priority='2122260223' protocol='udp' type='host'/>"
        "<candidate component='1' foundation='3' generation='0' id='x' ip='198.51.100.3'"
        " port='3478' priority='16777215' protocol='udp' type='relay' rel-addr='192.0.2.10'"
        " rel-port='50000'/>"
        "</transport></content>"
        "<content creator='initiator' name='1'>"
        "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='pX7k' pwd='c3Vw'/>"
        "</content></jingle>"
    )
    host, relay = jingle_candidates(info, mids=("0", "1"))
    assert host.candidate == (
        "candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host generation 0 network-id 1"
    )
    assert relay.candidate == (
        "candidate:3 1 udp 16777215 198.51.100.3 3478 typ relay raddr 192.0.2.10 rport 50000"
        " generation 0"
    )
    assert (relay.sdp_mid, relay.sdp_mline_index) == ("0", 0)
    assert jingle_candidates(info)[0].sdp_mline_index is None


def test_transport_info_needs_a_jingle_element() -> None:
    with pytest.raises(SdpError):
        jingle_candidates(Element(_q(JINGLE, "content")))
    with pytest.raises(SdpError):
        jingle_candidate_to_sdp(Element("{urn:xmpp:jingle:transports:raw-udp:1}transport"), "0")


@settings(max_examples=200, deadline=None)
@given(candidates, st.text("abc012", min_size=1, max_size=4), st.integers(0, 3))
def test_generated_candidates_round_trip(candidate: Candidate, mid: str, index: int) -> None:
    name, transport = candidate_to_jingle(format_candidate(candidate), mid, index)
    (received,) = jingle_candidate_to_sdp(_wire(transport), name, mline_index=index)
    assert parse_candidate(received.candidate) == candidate
    assert (received.sdp_mid, received.sdp_mline_index) == (mid, index)
