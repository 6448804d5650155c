"""Bad input: every SDP or Jingle is either converted or refused with `SdpError` (never another
exception), and what is converted can always be read back."""

from __future__ import annotations

import contextlib
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, fromstring

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmpp_video.bridge.sdp import (
    Role,
    SdpError,
    candidate_to_jingle,
    jingle_candidates,
    jingle_to_sdp,
    sdp_to_jingle,
)
from xmpp_video.bridge.sdp_jingle import (
    DTLS,
    GROUPING,
    HDREXT,
    ICE_UDP,
    JINGLE,
    RTCP_FB,
    RTP,
    SDP_EXT,
    SSMA,
)
from xmpp_video.bridge.sdp_text import parse_sdp

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MINIMAL = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n"
)


def _q(namespace: str, local: str) -> str:
    return "{" + namespace + "}" + local


def _convert_or_refuse(sdp: str) -> None:
    try:
        jingle = sdp_to_jingle(sdp, action="session-initiate", sid="s")
    except SdpError as exc:
        message = str(exc)
    else:
        # what was converted converts back, and that SDP is readable
        parse_sdp(jingle_to_sdp(jingle))
        return
    assert message


def _read_or_refuse(jingle: Element) -> None:
    try:
        sdp = jingle_to_sdp(jingle, role=Role.INITIATOR)
    except SdpError as exc:
        message = str(exc)
    else:
        parse_sdp(sdp)  # never writes what it cannot read back
        return
    assert message


# -- SDP ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("", "v=0"),
        ("hello", "not an SDP line"),
        ("v=1\r\n", "v=0"),
        (MINIMAL.replace("opus/48000/2", "opus"), "rtpmap"),
        (MINIMAL.replace("a=rtpmap:111", "a=rtpmap:112"), "lacks"),
        (MINIMAL + "a=fmtp:96 apt=95\r\n", "lacks"),
        (MINIMAL.replace("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF x"), "payload type"),
        (MINIMAL.replace("m=audio 9", "m=audio 70000"), "port"),
        (MINIMAL + "a=candidate:1 1 udp 1 10.0.0.1 9 host\r\n", "candidate"),
        (MINIMAL + "a=candidate:1 1 udp 1 10.0.0.1 x typ host\r\n", "port"),
        (MINIMAL + "a=ssrc:12\r\n", "ssrc"),
        (MINIMAL + "a=ssrc:99999999999 cname:x\r\n", "ssrc"),
        (MINIMAL + "a=setup:sideways\r\n", "setup"),
        (MINIMAL + "a=extmap:0 urn:x\r\n", "extmap"),
        (MINIMAL + "a=msid:a b c\r\n", "msid"),
        (MINIMAL + "a=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n", "two"),
        (MINIMAL + "a=x-\x00\r\n", "control"),
        (MINIMAL + "a=x-tab:\tvalue\r\n", "control"),
        (MINIMAL + "a=x:1\rb=2\r\n", "carriage return"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "m-lines"),
        ("v=0\r\no=bad\r\n" + MINIMAL[4:], "o="),
    ],
)
def test_malformed_sdp_is_refused(sdp: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        sdp_to_jingle(sdp, action="session-initiate", sid="s")


def test_arguments_are_checked() -> None:
    with pytest.raises(SdpError, match="action"):
        sdp_to_jingle(MINIMAL, action="session-begin", sid="s")
    with pytest.raises(SdpError, match="sid"):
        sdp_to_jingle(MINIMAL, action="session-initiate", sid="")
    with pytest.raises(SdpError, match="initiator"):
        sdp_to_jingle(MINIMAL, action="session-initiate", sid="s", initiator="a@b/c\nd")
    # a resource may hold spaces, and so may a sid: only SDP values must be tokens
    jingle = sdp_to_jingle(MINIMAL, action="session-initiate", sid="a b", initiator="a@b/my phone")
    assert (jingle.get("sid"), jingle.get("initiator")) == ("a b", "a@b/my phone")
    with pytest.raises(SdpError, match="creator"):
        sdp_to_jingle(MINIMAL, action="session-initiate", sid="s", creator="someone")
    with pytest.raises(SdpError, match="role"):
        sdp_to_jingle(MINIMAL, action="content-add", sid="s")  # who offers? either party may
    with pytest.raises(SdpError, match="role"):
        sdp_to_jingle(MINIMAL, action="content-add", sid="s", role="nobody")  # type: ignore[arg-type]


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_is_converted_or_refused(text: str) -> None:
    _convert_or_refuse(text)


@SETTINGS
@given(st.text(alphabet="vomstcabk=:/ 0123456789-\r\nUDPTLSRVFaudiortpmapfmtpxyz*", max_size=300))
def test_sdp_shaped_text_is_converted_or_refused(text: str) -> None:
    _convert_or_refuse(text)


@st.composite
def mutated_golden(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["chrome-offer", "firefox-offer", "safari-offer", "aiortc-offer"]))
    lines = (GOLDEN / f"{name}.sdp").read_bytes().decode().split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "truncate", "insert", "swap"]))
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "truncate":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        elif action == "insert":
            position = draw(st.integers(0, len(lines[index])))
            lines[index] = (
                lines[index][:position] + draw(st.text(max_size=5)) + lines[index][position:]
            )
        else:
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        if not lines:
            break
    return "\r\n".join(lines)


@SETTINGS
@given(mutated_golden())
def test_mutated_real_sdp_is_converted_or_refused(sdp: str) -> None:
    _convert_or_refuse(sdp)


# -- Jingle -------------------------------------------------------------------------------


def _jingle(xml: str) -> Element:
    return fromstring(
        "<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s'>" + xml + "</jingle>"
    )


GOOD_CONTENT = (
    "<content creator='initiator' name='0'>"
    "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>"
    "<payload-type id='111' name='opus' clockrate='48000' channels='2'/>{extra}</description>"
    "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'>{transport}"
    "</transport></content>"
)


def _content(extra: str = "", transport: str = "") -> str:
    return GOOD_CONTENT.format(extra=extra, transport=transport)


def _private(attrs: str) -> str:
    return f"<attribute xmlns='urn:xmpp-video:jingle:sdp:0' {attrs}/>"


def _fingerprint(attrs: str) -> str:
    return (
        f"<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' {attrs}>AA</fingerprint>"
    )


def _candidate(attrs: str) -> str:
    common = "component='1' foundation='1' port='1' priority='1' protocol='udp'"
    return f"<candidate {common} {attrs}/>"


def test_a_good_content_converts() -> None:
    assert "a=rtpmap:111 opus/48000/2" in jingle_to_sdp(_jingle(_content()))


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("", "without contents"),
        ("<content creator='initiator' name='0'/>", "no RTP description"),
        (
            "<content creator='initiator'><description xmlns='urn:xmpp:jingle:apps:rtp:1'"
            " media='audio'><payload-type id='0'/></description></content>",
            "lacks 'name'",
        ),
        (_content() + _content(), "two"),
        (
            _content().replace(
                "<payload-type id='111' name='opus' clockrate='48000' channels='2'/>", ""
            ),
            "no payload",
        ),
        (_content().replace("id='111'", "id='300'"), "out of range"),
        (_content().replace("id='111'", "id='x'"), "not a number"),
        (_content().replace("name='opus' clockrate='48000'", ""), "lacks a name"),
        (_content().replace("name='opus'", "name='op/us'"), "bad 'name'"),
        (_content().replace("name='0'", "name='a b'"), "bad 'name'"),
        (
            _content(extra=_private("name='rtpmap' value='1 x/1'")),
            "own Jingle element",
        ),
        (
            _content(extra=_private("name='x' value='a&#10;a=y'")),
            "bad value",
        ),
        (
            _content(extra=_private("name='msid' value='a b c'")),
            "bad 'value'",
        ),
        (
            _content(extra="<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1'/>"),
            "lacks 'uri'",
        ),
        (
            _content(extra="<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='trr-int'/>"),
            "trr-int",
        ),
        (
            _content(extra="<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'/>"),
            "without sources",
        ),
        (
            _content(transport=_fingerprint("setup='x'")),
            "setup",
        ),
        (
            _content(transport=_candidate("ip='1.2.3.4'")),
            "lacks 'type'",
        ),
        (
            _content(transport=_candidate("ip='1.2.3.4&#13;&#10;a=x' type='host'")),
            "bad 'ip'",
        ),
        (_content().replace("<content ", "<content senders='everyone' "), "senders"),
        ("<group xmlns='urn:xmpp:jingle:apps:grouping:0'/>" + _content(), "semantics"),
    ],
)
def test_malformed_jingle_is_refused(xml: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        jingle_to_sdp(_jingle(xml))


def test_not_a_jingle_element() -> None:
    with pytest.raises(SdpError, match="jingle"):
        jingle_to_sdp(Element("{jabber:client}iq"))
    with pytest.raises(SdpError, match="role"):
        jingle_to_sdp(
            fromstring("<jingle xmlns='urn:xmpp:jingle:1' action='content-add' sid='s'/>")
        )


def test_no_sdp_line_can_be_injected() -> None:
    """Line breaks in any Jingle value are refused: none reaches the SDP."""
    for attack in ("x\r\na=setup:active", "x\na=setup:active", "x\ra"):
        jingle = _jingle(_content())
        payload = jingle.find(f".//{_q(RTP, 'payload-type')}")
        assert payload is not None
        SubElement(payload, _q(RTP, "parameter"), {"name": "apt", "value": attack})
        with pytest.raises(SdpError):
            jingle_to_sdp(jingle)


TAGS = [
    _q(JINGLE, "content"),
    _q(RTP, "description"),
    _q(RTP, "payload-type"),
    _q(RTP, "parameter"),
    _q(RTP, "rtcp-mux"),
    _q(RTP, "bandwidth"),
    _q(RTCP_FB, "rtcp-fb"),
    _q(RTCP_FB, "rtcp-fb-trr-int"),
    _q(HDREXT, "rtp-hdrext"),
    _q(HDREXT, "extmap-allow-mixed"),
    _q(SSMA, "source"),
    _q(SSMA, "ssrc-group"),
    _q(SSMA, "parameter"),
    _q(ICE_UDP, "transport"),
    _q(ICE_UDP, "candidate"),
    _q(DTLS, "fingerprint"),
    _q(GROUPING, "group"),
    _q(GROUPING, "content"),
    _q(SDP_EXT, "attribute"),
    _q(SDP_EXT, "description"),
    _q(SDP_EXT, "end-of-candidates"),
    _q(SDP_EXT, "origin"),
    _q(SDP_EXT, "zero-port"),
    _q(SDP_EXT, "extension"),
]
ATTRIBUTES = [
    "name", "id", "media", "clockrate", "channels", "ptime", "value", "type", "subtype", "uri",
    "senders", "ssrc", "semantics", "ufrag", "pwd", "hash", "setup", "component", "foundation",
    "generation", "ip", "port", "priority", "protocol", "rel-addr", "rel-port", "network",
    "tcptype", "formats", "username", "session-id", "session-version", "creator",
]  # fmt: skip
values = st.one_of(
    st.sampled_from(["0", "1", "96", "audio", "both", "initiator", "udp", "host", "a b", ""]),
    st.integers(-5, 2**33).map(str),
    st.text(max_size=8),
)


def _trees(depth: int) -> st.SearchStrategy[Element]:
    def build(tag: str, attrs: dict[str, str], text: str, children: list[Element]) -> Element:
        el = Element(tag, attrs)
        el.text = text or None
        el.extend(children)
        return el

    leaf = st.builds(
        build,
        st.sampled_from(TAGS),
        st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=5),
        st.text(max_size=6),
        st.just([]),
    )
    if depth == 0:
        return leaf
    return st.one_of(
        leaf,
        st.builds(
            build,
            st.sampled_from(TAGS),
            st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=5),
            st.text(max_size=6),
            st.lists(_trees(depth - 1), max_size=4),
        ),
    )


@SETTINGS
@given(st.lists(_trees(4), max_size=4))
def test_arbitrary_jingle_is_converted_or_refused(children: list[Element]) -> None:
    jingle = Element(_q(JINGLE, "jingle"), {"action": "session-initiate", "sid": "s"})
    jingle.extend(children)
    _read_or_refuse(jingle)
    with contextlib.suppress(SdpError):
        jingle_candidates(jingle)


@SETTINGS
@given(st.text(max_size=200), st.none() | st.text(max_size=5), st.none() | st.integers())
def test_arbitrary_candidates_are_converted_or_refused(
    candidate: str, mid: str | None, index: int | None
) -> None:
    with contextlib.suppress(SdpError):
        name, transport = candidate_to_jingle(candidate, mid, index)
        assert name
        assert transport.tag == _q(ICE_UDP, "transport")


@st.composite
def mutated_jingle(draw: st.DrawFn) -> Element:
    """A real Jingle (the golden ones, or converted from the golden SDP) with a few edits."""
    name = draw(st.sampled_from(["jingle-peer-session-initiate", "xep-examples-session-initiate"]))
    jingle = fromstring((GOLDEN / f"{name}.xml").read_text())
    nodes = list(jingle.iter())
    for _ in range(draw(st.integers(1, 4))):
        node = draw(st.sampled_from(nodes))
        action = draw(st.sampled_from(["set", "delete", "drop-child", "copy-child", "text"]))
        if action == "set":
            node.set(draw(st.sampled_from(ATTRIBUTES)), draw(values))
        elif action == "delete" and node.attrib:
            del node.attrib[draw(st.sampled_from(sorted(node.attrib)))]
        elif action == "drop-child" and len(node):
            node.remove(draw(st.sampled_from(list(node))))
        elif action == "copy-child" and len(node):
            node.append(draw(st.sampled_from(list(node))))
        elif action == "text":
            node.text = draw(st.text(max_size=8))
    return jingle


@SETTINGS
@given(mutated_jingle())
def test_mutated_real_jingle_is_converted_or_refused(jingle: Element) -> None:
    _read_or_refuse(jingle)
