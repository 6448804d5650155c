"""Golden files: real SDP (aiortc's own, and Chrome/Firefox/Safari offers written after the
browsers' output) and Jingle (assembled from the XEP examples, and what the Conversations-style
test peer of tests/interop/jingle_peer.py sends), converted both ways.

``golden/expected/`` holds the converter's output for each input, reviewed once and compared
byte for byte since; regenerate it with ``UPDATE_GOLDEN=1`` after a deliberate change.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree.ElementTree import Element, fromstring, indent

import pytest

from xmpp_video.bridge.sdp import jingle_to_sdp, sdp_to_jingle
from xmpp_video.bridge.sdp_jingle import (
    DTLS,
    GROUPING,
    HDREXT,
    ICE_UDP,
    JINGLE,
    RTP,
    SDP_EXT,
    SSMA,
    jingle_to_session,
)
from xmpp_video.bridge.sdp_model import Direction, Role, Setup
from xmpp_video.bridge.sdp_text import parse_sdp
from xmpp_video.xml import serialize

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = GOLDEN / "expected"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SDP_SAMPLES = ["aiortc-offer", "aiortc-answer", "chrome-offer", "firefox-offer", "safari-offer"]
JINGLE_SAMPLES = [
    "xep-examples-session-initiate",
    "jingle-peer-session-initiate",
    "jingle-peer-session-accept",
]
ROMEO = "romeo@example.org/orchard"
JULIET = "juliet@example.org/balcony"


def _q(namespace: str, local: str) -> str:
    return "{" + namespace + "}" + local


def _sdp(name: str) -> str:
    return (GOLDEN / f"{name}.sdp").read_bytes().decode()  # as is: CRLF line ends


def _jingle_file(name: str) -> Element:
    return fromstring((GOLDEN / f"{name}.xml").read_text())


def _is_answer(name: str) -> bool:
    return "answer" in name or "accept" in name


def _convert(name: str) -> Element:
    if _is_answer(name):
        return sdp_to_jingle(_sdp(name), action="session-accept", sid=name, responder=JULIET)
    return sdp_to_jingle(_sdp(name), action="session-initiate", sid=name, initiator=ROMEO)


def _pretty(element: Element) -> str:
    copy = fromstring(serialize(element, default_ns=""))
    indent(copy)
    return serialize(copy, default_ns="").decode() + "\n"


def _check_golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, newline="")
    assert path.read_bytes().decode() == actual, f"{path.name} changed (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("name", SDP_SAMPLES)
def test_sdp_to_jingle_matches_golden(name: str) -> None:
    _check_golden(EXPECTED / f"{name}.xml", _pretty(_convert(name)))


@pytest.mark.parametrize("name", JINGLE_SAMPLES)
def test_jingle_to_sdp_matches_golden(name: str) -> None:
    _check_golden(EXPECTED / f"{name}.sdp", jingle_to_sdp(_jingle_file(name)))


@pytest.mark.parametrize("name", SDP_SAMPLES)
def test_sdp_to_jingle_to_sdp_is_equivalent(name: str) -> None:
    back = jingle_to_sdp(fromstring(serialize(_convert(name), default_ns="")))
    assert parse_sdp(back) == parse_sdp(_sdp(name))


@pytest.mark.parametrize("name", JINGLE_SAMPLES)
def test_jingle_to_sdp_to_jingle_is_equivalent(name: str) -> None:
    original = _jingle_file(name)
    role = Role.RESPONDER if _is_answer(name) else Role.INITIATOR
    action = original.get("action", "")
    again = sdp_to_jingle(
        jingle_to_sdp(original),
        action=action,
        sid=original.get("sid", ""),
        initiator=original.get("initiator"),
        responder=original.get("responder"),
        role=role,
    )
    assert jingle_to_session(again, role=role) == jingle_to_session(original, role=role)


@pytest.mark.parametrize("name", ["jingle-peer-session-initiate", "jingle-peer-session-accept"])
def test_jingle_peer_stanzas_come_back_element_for_element(name: str) -> None:
    """What the Conversations-style peer sends is already in the converter's canonical shape:
    through SDP and back, every element and attribute is the same but the candidate ids (SDP
    has none; they are derived again)."""
    original = _jingle_file(name)
    again = sdp_to_jingle(
        jingle_to_sdp(original),
        action=original.get("action", ""),
        sid=original.get("sid", ""),
        initiator=original.get("initiator"),
        responder=original.get("responder"),
    )
    for before, after in zip(original.iter(), again.iter(), strict=True):
        assert before.tag == after.tag
        if before.tag == _q(ICE_UDP, "candidate"):
            assert {**before.attrib, "id": ""} == {**after.attrib, "id": ""}
        else:
            assert before.attrib == after.attrib
        assert (before.text or "").strip() == (after.text or "").strip()


def test_jingle_peer_golden_is_what_the_peer_builds() -> None:
    """The golden session-initiate has the structure tests/interop/jingle_peer.py builds today
    (values aside), so the golden tests follow that peer."""
    peer = pytest.importorskip("tests.interop.jingle_peer")
    built = peer.session_description(
        "session-initiate",
        "sid",
        peer.MediaSetup.generate(),
        ("audio", "video"),
        dtls_setup="actpass",
        initiator=ROMEO,
    )
    golden = _jingle_file("jingle-peer-session-initiate")

    def shape(el: Element) -> list[tuple[str, tuple[str, ...]]]:
        return [(e.tag, tuple(sorted(e.attrib))) for e in el.iter()]

    assert shape(built) == shape(golden)


# -- what the samples show ----------------------------------------------------------------


def _content(jingle: Element, name: str) -> Element:
    for content in jingle.findall(_q(JINGLE, "content")):
        if content.get("name") == name:
            return content
    raise AssertionError(f"no content {name}")


def _candidates(content: Element) -> list[dict[str, str]]:
    return [dict(c.attrib) for c in content.iter(_q(ICE_UDP, "candidate"))]


def _private_attributes(parent: Element) -> list[tuple[str | None, str | None]]:
    return [(a.get("name"), a.get("value")) for a in parent.findall(_q(SDP_EXT, "attribute"))]


def test_chrome_offer() -> None:
    jingle = _convert("chrome-offer")
    assert jingle.get("initiator") == ROMEO
    audio, video = _content(jingle, "0"), _content(jingle, "1")
    by_type = {c["type"]: c for c in _candidates(audio)}
    assert by_type["srflx"]["rel-addr"] == "192.168.1.23"
    assert by_type["srflx"]["rel-port"] == "50734"
    assert by_type["relay"]["ip"] == "198.51.100.20"
    assert by_type["host"]["network"] == "1"
    tcp = next(c for c in _candidates(audio) if c["protocol"] == "tcp")
    assert tcp["tcptype"] == "active"
    network_cost = audio.find(f".//{_q(SDP_EXT, 'extension')}[@name='network-cost']")
    assert network_cost is not None
    assert network_cost.get("value") == "10"
    description = audio.find(_q(RTP, "description"))
    assert description is not None
    # session-level a=extmap-allow-mixed applies to every m-line (XEP-0294)
    assert description.find(_q(HDREXT, "extmap-allow-mixed")) is not None
    assert ("rtcp-rsize", None) in _private_attributes(description)
    assert ("ice-options", "trickle") in _private_attributes(description)
    red = description.find(f"{_q(RTP, 'payload-type')}[@name='red']")
    assert red is not None
    (red_param,) = red.findall(_q(RTP, "parameter"))
    assert red_param.attrib == {"name": "", "value": "111/111"}
    # a=msid (media level) → XEP-0339 msid parameter on the m-line's sources
    msids = {p.get("value") for p in video.iter(_q(SSMA, "parameter")) if p.get("name") == "msid"}
    assert msids == {"3d1f2c9e-7b2a-4a44-9f3e-5c6b7a8d9e01 6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"}
    group = video.find(f".//{_q(SSMA, 'ssrc-group')}")
    assert group is not None
    assert group.get("semantics") == "FID"
    bundle = jingle.find(_q(GROUPING, "group"))
    assert bundle is not None
    assert bundle.get("semantics") == "BUNDLE"
    assert [c.get("name") for c in bundle] == ["0", "1"]
    assert ("msid-semantic", " WMS 3d1f2c9e-7b2a-4a44-9f3e-5c6b7a8d9e01") in _private_attributes(
        jingle
    )
    fingerprint = video.find(f".//{_q(DTLS, 'fingerprint')}")
    assert fingerprint is not None
    assert fingerprint.get("setup") == "actpass"
    assert fingerprint.get("hash") == "sha-256"


def test_firefox_offer() -> None:
    jingle = _convert("firefox-offer")
    audio, video = _content(jingle, "0"), _content(jingle, "1")
    # the session-level fingerprint belongs to every transport (XEP-0320)
    for content in (audio, video):
        assert content.find(f".//{_q(DTLS, 'fingerprint')}") is not None
    assert {c["protocol"] for c in _candidates(audio)} == {"udp", "tcp"}
    assert audio.find(f".//{_q(SDP_EXT, 'end-of-candidates')}") is not None
    # a=extmap:2/recvonly written by the initiator: only the responder sends it
    hdrext = audio.find(f".//{_q(HDREXT, 'rtp-hdrext')}[@id='2']")
    assert hdrext is not None
    assert hdrext.get("senders") == "responder"
    event = audio.find(f".//{_q(RTP, 'payload-type')}[@name='telephone-event']")
    assert event is not None
    assert event.get("channels") is None  # telephone-event/8000/1
    assert [p.attrib for p in event] == [{"name": "", "value": "0-15"}]
    session = parse_sdp(_sdp("firefox-offer"))
    assert all(m.port == 9 for m in session.media)  # ICE decides, not the m= port
    assert session.media[0].candidates[2].rel_addr == "192.168.1.5"


def test_safari_offer_keeps_mdns_and_ssrc_msid() -> None:
    session = parse_sdp(_sdp("safari-offer"))
    host, srflx = session.media[0].candidates
    assert host.ip.endswith(".local")
    assert (srflx.rel_addr, srflx.rel_port) == ("0.0.0.0", 0)  # noqa: S104 - a candidate value
    assert session.media[1].msid == (
        "0F4A7C2E-9B1D-4E3F-A5C7-D9E1F3A5B7C9 5E7A9C1B-3D5F-4A7C-9E1B-D3F5A7C9E1B3",
    )


def test_aiortc_offer_keeps_every_fingerprint() -> None:
    jingle = _convert("aiortc-offer")
    hashes = [f.get("hash") for f in _content(jingle, "0").iter(_q(DTLS, "fingerprint"))]
    assert hashes == ["sha-256", "sha-384", "sha-512"]


def test_aiortc_answer_is_a_session_accept() -> None:
    jingle = _convert("aiortc-answer")
    assert jingle.get("responder") == JULIET
    fingerprint = jingle.find(f".//{_q(DTLS, 'fingerprint')}")
    assert fingerprint is not None
    assert fingerprint.get("setup") == "active"


def test_xep_examples_to_sdp() -> None:
    sdp = jingle_to_sdp(_jingle_file("xep-examples-session-initiate"))
    session = parse_sdp(sdp)
    voice, webcam = session.media
    assert (voice.mid, webcam.mid) == ("voice", "webcam")
    assert session.groups[0].mids == ("voice", "webcam")
    g729 = next(p for p in voice.payloads if p.id == 18)
    assert (g729.name, g729.clockrate) == ("G729", 8000)  # static payload type, no clockrate
    assert "a=rtpmap:103 L16/16000/2" in sdp
    assert "b=AS:128" in sdp
    assert "a=fmtp:101 0-15" in sdp
    assert voice.direction is Direction.SENDRECV  # no senders: both
    assert "a=rtcp-fb:* nack" in sdp
    assert "a=rtcp-fb:* trr-int 100" in sdp
    assert "a=extmap:2/sendonly urn:ietf:params:rtp-hdrext:ntp-64" in sdp
    srflx = voice.candidates[1]
    assert (srflx.type, srflx.rel_addr, srflx.rel_port) == ("srflx", "10.0.1.1", 8998)
    assert voice.setup is Setup.ACTPASS
    assert webcam.msid == (
        "MLTJKIHilGn71fNQoszkQ4jlPTuS5vJyKVIv MLTJKIHilGn71fNQoszkQ4jlPTuS5vJyKVIva0",
    )


def test_jingle_peer_to_sdp() -> None:
    sdp = jingle_to_sdp(_jingle_file("jingle-peer-session-initiate"))
    assert "a=msid:5f0a3c2e-8b1d-4e6f-9a7c-2d4b6e8f0a1c 0c6e8a2f-4b1d-4c3e-8f5a-7b9d1e3f5a7c" in sdp
    assert "a=candidate:2 1 tcp 1518280447 192.0.2.10 50001 typ host generation 0" in sdp
    assert "a=ssrc-group:FID 2740186493 877140012" in sdp
    accept = jingle_to_sdp(_jingle_file("jingle-peer-session-accept"))
    assert "a=setup:active" in accept
