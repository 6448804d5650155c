"""SDP text (RFC 8866, with the WebRTC attributes of RFC 8829/8839/8843/8830) ⇄ the session
model of `sdp_model`. Pure.

`parse_sdp()` reads what browsers, libwebrtc and aiortc write and returns a normalized
`Session`, or raises `SdpError`; `write_sdp()` writes a session as JSEP expects it (CRLF line
ends, ``c=IN IP4 0.0.0.0``, explicit direction, both msid spellings). Attributes this module
does not know stay in ``attributes`` and are written back unchanged (after the known ones).
Lines other than ``a=`` and a media ``b=`` carry nothing WebRTC uses (``i=``, ``u=``, ``e=``,
``p=``, ``z=``, ``k=``, ``r=``, ``c=``, a session ``b=``) and are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from xmpp_video.bridge.sdp_model import (
    DISCARD_PORT,
    MSID,
    STATIC_PAYLOADS,
    TEXT,
    TOKEN,
    Attribute,
    Bandwidth,
    Candidate,
    Direction,
    Feedback,
    Fingerprint,
    Group,
    HeaderExtension,
    Media,
    Origin,
    Parameter,
    PayloadType,
    SdpError,
    Session,
    Setup,
    Source,
    SourceGroup,
    SourceParameter,
    check_unique_mids,
    excerpt,
    is_rtp_protocol,
    normalize,
)

__all__ = [
    "CANDIDATE_KEYS",
    "MAX_SDP_SIZE",
    "OTHER_MEDIA_ATTRIBUTES",
    "RTP_MEDIA_ATTRIBUTES",
    "SESSION_ATTRIBUTES",
    "format_candidate",
    "parse_candidate",
    "parse_sdp",
    "write_sdp",
]

MAX_SDP_SIZE: Final = 256 * 1024  # characters; a real offer is a few kilobytes
MAX_SSRC: Final = 2**32 - 1
MAX_PRIORITY: Final = 2**32 - 1
MAX_EXTMAP_ID: Final = 4351  # XEP-0294: 1-256 and 4096-4351 (RFC 8285 ids and ranges)

# Besides line ends, an SDP may hold only what `TEXT` allows (so that Jingle can carry it).
_UNSAFE_IN_SDP: Final = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_TOKEN: Final = TOKEN
_DIRECTIONS: Final = frozenset(d.value for d in Direction)

# The attribute names this module reads, by place; every other name is kept as it is.
SESSION_ATTRIBUTES: Final = frozenset(
    {"group", "ice-ufrag", "ice-pwd", "fingerprint", "setup", "extmap-allow-mixed", *_DIRECTIONS}
)
OTHER_MEDIA_ATTRIBUTES: Final = frozenset(
    {"mid", "candidate", "end-of-candidates", "ice-ufrag", "ice-pwd", "fingerprint", "setup"}
    | _DIRECTIONS
)
RTP_MEDIA_ATTRIBUTES: Final = OTHER_MEDIA_ATTRIBUTES | {
    "rtpmap",
    "fmtp",
    "rtcp-fb",
    "extmap",
    "extmap-allow-mixed",
    "ssrc",
    "ssrc-group",
    "msid",
    "ptime",
    "maxptime",
    "rtcp-mux",
}
CANDIDATE_KEYS: Final = frozenset({"raddr", "rport", "tcptype", "generation", "network-id"})

# -- small checked readers ----------------------------------------------------------------


def _int(text: str, what: str, low: int, high: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise SdpError(f"{what} is not a number: {excerpt(text)}")
    value = int(text)
    if not low <= value <= high:
        raise SdpError(f"{what} out of range ({low}-{high}): {value}")
    return value


def _token(text: str, what: str) -> str:
    if not _TOKEN.fullmatch(text):
        raise SdpError(f"{what} must be one non-empty token: {excerpt(text)}")
    return text


def _value(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise SdpError(f"a={name} needs a value")
    return value


def _split_attribute(body: str) -> Attribute:
    name, colon, value = body.partition(":")
    if not name or not _TOKEN.fullmatch(name):
        raise SdpError(f"bad attribute name in a={excerpt(body)}")
    return Attribute(name, value if colon else None)


# -- candidates ---------------------------------------------------------------------------


def parse_candidate(value: str) -> Candidate:
    """An RFC 8839 candidate attribute value (with or without ``candidate:`` / ``a=``)."""
    text = value.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if not TEXT.fullmatch(text):
        raise SdpError("candidate is empty or contains control characters")
    bits = text.split()
    if len(bits) < 8 or bits[6] != "typ" or len(bits) % 2:
        raise SdpError(f"malformed candidate: {excerpt(value)}")
    known: dict[str, str] = {}
    extensions: list[tuple[str, str]] = []
    for index in range(8, len(bits), 2):
        key, val = bits[index], bits[index + 1]
        if key in CANDIDATE_KEYS:
            known[key] = val
        else:
            extensions.append((key, val))
    rport = known.get("rport")
    generation = known.get("generation")
    network = known.get("network-id")
    return Candidate(
        foundation=bits[0],
        component=_int(bits[1], "candidate component", 1, 256),
        protocol=bits[2].lower(),
        priority=_int(bits[3], "candidate priority", 0, MAX_PRIORITY),
        ip=bits[4],
        port=_int(bits[5], "candidate port", 0, 65535),
        type=bits[7],
        rel_addr=known.get("raddr"),
        rel_port=None if rport is None else _int(rport, "candidate rport", 0, 65535),
        tcptype=known.get("tcptype"),
        generation=0 if generation is None else _int(generation, "generation", 0, 2**31),
        network=None if network is None else _int(network, "network-id", 0, 2**31),
        extensions=tuple(extensions),
    )


def format_candidate(candidate: Candidate) -> str:
    """The attribute value, starting ``candidate:`` (as in ``RTCIceCandidate.candidate``)."""
    c = candidate
    out = [
        f"candidate:{c.foundation} {c.component} {c.protocol} {c.priority} {c.ip} {c.port}"
        f" typ {c.type}"
    ]
    if c.rel_addr is not None:
        out.append(f" raddr {c.rel_addr}")
    if c.rel_port is not None:
        out.append(f" rport {c.rel_port}")
    if c.tcptype is not None:
        out.append(f" tcptype {c.tcptype}")
    out.append(f" generation {c.generation}")
    for key, val in c.extensions:
        out.append(f" {key} {val}")
    if c.network is not None:
        out.append(f" network-id {c.network}")
    return "".join(out)


# -- parsing ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Common:
    """What a session may state for all m-lines (and an m-line for itself)."""

    ufrag: str | None = None
    pwd: str | None = None
    fingerprints: list[Fingerprint] = field(default_factory=list)
    setup: Setup | None = None
    extmap_allow_mixed: bool = False
    direction: Direction | None = None


@dataclass(slots=True)
class _PayloadDraft:
    name: str | None = None
    clockrate: int = 0
    channels: int | None = None
    parameters: list[Parameter] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    trr_int: int | None = None


@dataclass(slots=True)
class _MediaDraft:
    kind: str
    port: int
    protocol: str
    formats: list[str]
    common: _Common = field(default_factory=_Common)
    payloads: dict[int, _PayloadDraft] = field(default_factory=dict)
    mid: str | None = None
    rtcp_mux: bool = False
    feedback: list[Feedback] = field(default_factory=list)
    trr_int: int | None = None
    header_extensions: list[HeaderExtension] = field(default_factory=list)
    sources: dict[int, list[SourceParameter]] = field(default_factory=dict)
    source_groups: list[SourceGroup] = field(default_factory=list)
    msid: list[str] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    ptime: int | None = None
    maxptime: int | None = None
    candidates: list[Candidate] = field(default_factory=list)
    end_of_candidates: bool = False
    attributes: list[Attribute] = field(default_factory=list)

    def payload(self, pt_text: str, what: str) -> _PayloadDraft:
        pt = _int(pt_text, f"{what} payload type", 0, 127)
        draft = self.payloads.get(pt)
        if draft is None:
            raise SdpError(f"{what} for payload type {pt}, which the m={self.kind} line lacks")
        return draft


def _parse_media_line(value: str) -> _MediaDraft:
    bits = value.split()
    if len(bits) < 4:
        raise SdpError(f"malformed m= line: {excerpt(value)}")
    kind = _token(bits[0], "media type")
    port_text = bits[1].split("/", 1)[0]
    port = _int(port_text, "m= port", 0, 65535)
    protocol = bits[2]
    formats = bits[3:]
    draft = _MediaDraft(kind, port, protocol, formats)
    if is_rtp_protocol(protocol):
        for fmt in formats:
            pt = _int(fmt, "payload type", 0, 127)
            if pt in draft.payloads:
                raise SdpError(f"payload type {pt} listed twice on m={kind}")
            draft.payloads[pt] = _PayloadDraft()
    return draft


def _parse_fmtp(text: str) -> list[Parameter]:
    parameters = []
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        name, eq, val = item.partition("=")
        if eq and name.strip():
            parameters.append(Parameter(_token(name.strip(), "a=fmtp name"), val.strip()))
        else:
            parameters.append(Parameter("", item))
    return parameters


def _parse_extmap(value: str) -> HeaderExtension:
    bits = value.split()
    if len(bits) < 2:
        raise SdpError(f"malformed a=extmap: {excerpt(value)}")
    id_text, slash, direction_text = bits[0].partition("/")
    ext_id = _int(id_text, "extmap id", 1, MAX_EXTMAP_ID)
    direction = Direction.SENDRECV
    if slash:
        if direction_text not in _DIRECTIONS:
            raise SdpError(f"bad extmap direction: {excerpt(direction_text)}")
        direction = Direction(direction_text)
    parameters = []
    for token in bits[2:]:
        name, eq, val = token.partition("=")
        parameters.append(Parameter(name, val) if eq and name else Parameter(token, ""))
    return HeaderExtension(ext_id, bits[1], direction, tuple(parameters))


def _parse_common(common: _Common, attr: Attribute) -> bool:
    """Handle an attribute that both the session and an m-line may carry; False if not one."""
    name, value = attr.name, attr.value
    if name == "ice-ufrag":
        common.ufrag = _token(_value(value, name).strip(), "ice-ufrag")
    elif name == "ice-pwd":
        common.pwd = _token(_value(value, name).strip(), "ice-pwd")
    elif name == "fingerprint":
        bits = _value(value, name).split()
        if len(bits) != 2:
            raise SdpError(f"malformed a=fingerprint: {excerpt(value or '')}")
        common.fingerprints.append(Fingerprint(bits[0], bits[1]))
    elif name == "setup":
        text = _value(value, name).strip()
        try:
            common.setup = Setup(text)
        except ValueError:
            raise SdpError(f"unknown a=setup value {excerpt(text)}") from None
    elif name == "extmap-allow-mixed":
        common.extmap_allow_mixed = True
    elif name in _DIRECTIONS:
        common.direction = Direction(name)
    else:
        return False
    return True


def _parse_rtcp_fb(draft: _MediaDraft, value: str) -> None:
    pt_text, _, rest = value.strip().partition(" ")
    fb_type, _, subtype = rest.strip().partition(" ")
    if not fb_type:
        raise SdpError(f"malformed a=rtcp-fb: {excerpt(value)}")
    _token(fb_type, "a=rtcp-fb type")
    subtype = subtype.strip()
    if fb_type == "trr-int":
        trr = _int(subtype, "trr-int", 0, 2**31)
        if pt_text == "*":
            draft.trr_int = trr
        else:
            draft.payload(pt_text, "a=rtcp-fb").trr_int = trr
        return
    feedback = Feedback(fb_type, subtype or None)
    if pt_text == "*":
        draft.feedback.append(feedback)
    else:
        draft.payload(pt_text, "a=rtcp-fb").feedback.append(feedback)


def _parse_rtpmap(draft: _MediaDraft, value: str) -> None:
    pt_text, _, encoding = value.strip().partition(" ")
    bits = encoding.strip().split("/")
    if len(bits) not in (2, 3) or not bits[0] or not _TOKEN.fullmatch(bits[0]):
        raise SdpError(f"malformed a=rtpmap: {excerpt(value)}")
    payload = draft.payload(pt_text, "a=rtpmap")
    payload.name = bits[0]
    payload.clockrate = _int(bits[1], "rtpmap clock rate", 1, 2**31)
    payload.channels = _int(bits[2], "rtpmap channels", 1, 255) if len(bits) == 3 else None


def _parse_ssrc(draft: _MediaDraft, value: str) -> None:
    ssrc_text, _, rest = value.strip().partition(" ")
    ssrc = _int(ssrc_text, "ssrc", 0, MAX_SSRC)
    rest = rest.strip()
    if not rest:
        raise SdpError(f"a=ssrc:{ssrc} names no attribute")
    name, colon, val = rest.partition(":")
    if not name or not _TOKEN.fullmatch(name):
        raise SdpError(f"malformed a=ssrc: {excerpt(value)}")
    draft.sources.setdefault(ssrc, []).append(SourceParameter(name, val if colon else None))


def _parse_ssrc_group(draft: _MediaDraft, value: str) -> None:
    bits = value.split()
    if len(bits) < 2:
        raise SdpError(f"malformed a=ssrc-group: {excerpt(value)}")
    ssrcs = tuple(_int(b, "ssrc-group ssrc", 0, MAX_SSRC) for b in bits[1:])
    draft.source_groups.append(SourceGroup(bits[0], ssrcs))


def _set_mid(draft: _MediaDraft, value: str) -> None:
    draft.mid = _token(value.strip(), "mid")


def _set_msid(draft: _MediaDraft, value: str) -> None:
    text = " ".join(value.split())
    if not MSID.fullmatch(text):
        raise SdpError(f"malformed a=msid: {excerpt(value)}")
    draft.msid.append(text)


def _set_ptime(draft: _MediaDraft, value: str) -> None:
    draft.ptime = _int(value.strip(), "ptime", 0, 2**31)


def _set_maxptime(draft: _MediaDraft, value: str) -> None:
    draft.maxptime = _int(value.strip(), "maxptime", 0, 2**31)


def _add_fmtp(draft: _MediaDraft, value: str) -> None:
    pt_text, _, params = value.strip().partition(" ")
    draft.payload(pt_text, "a=fmtp").parameters.extend(_parse_fmtp(params))


def _add_extmap(draft: _MediaDraft, value: str) -> None:
    draft.header_extensions.append(_parse_extmap(value))


def _add_candidate(draft: _MediaDraft, value: str) -> None:
    draft.candidates.append(parse_candidate(value))


_MEDIA_VALUED: Final[dict[str, Callable[[_MediaDraft, str], None]]] = {
    "mid": _set_mid,
    "rtpmap": _parse_rtpmap,
    "fmtp": _add_fmtp,
    "rtcp-fb": _parse_rtcp_fb,
    "extmap": _add_extmap,
    "ssrc": _parse_ssrc,
    "ssrc-group": _parse_ssrc_group,
    "msid": _set_msid,
    "ptime": _set_ptime,
    "maxptime": _set_maxptime,
    "candidate": _add_candidate,
}


def _parse_media_attribute(draft: _MediaDraft, attr: Attribute) -> None:
    """An m-line attribute. A non-RTP m-line (a data channel) knows only its mid, direction,
    ICE and DTLS attributes: the rest is kept as unknown attributes."""
    name = attr.name
    rtp = bool(draft.payloads)
    if (rtp or name != "extmap-allow-mixed") and _parse_common(draft.common, attr):
        return
    if name == "end-of-candidates":
        draft.end_of_candidates = True
    elif name in ("mid", "candidate") or (rtp and name in _MEDIA_VALUED):
        _MEDIA_VALUED[name](draft, _value(attr.value, name))
    elif rtp and name == "rtcp-mux":
        draft.rtcp_mux = True
    else:
        draft.attributes.append(attr)


def _finish_payload(pt: int, draft: _PayloadDraft) -> PayloadType:
    name, clockrate, channels = draft.name, draft.clockrate, draft.channels
    if name is None:
        static = STATIC_PAYLOADS.get(pt)
        if static is None:
            raise SdpError(f"payload type {pt} has no a=rtpmap")
        name, clockrate, channels = static
    return PayloadType(
        id=pt,
        name=name,
        clockrate=clockrate,
        channels=channels,
        parameters=tuple(draft.parameters),
        feedback=tuple(draft.feedback),
        trr_int=draft.trr_int,
    )


def _finish_media(draft: _MediaDraft, index: int, session: _Common) -> Media:
    common = draft.common
    rtp = bool(draft.payloads)
    return Media(
        kind=draft.kind,
        mid=draft.mid if draft.mid is not None else str(index),
        port=draft.port if draft.port == 0 else DISCARD_PORT,
        protocol=draft.protocol,
        formats=() if rtp else tuple(draft.formats),
        direction=common.direction or session.direction or Direction.SENDRECV,
        rtcp_mux=draft.rtcp_mux,
        payloads=tuple(_finish_payload(pt, p) for pt, p in draft.payloads.items()),
        feedback=tuple(draft.feedback),
        trr_int=draft.trr_int,
        header_extensions=tuple(draft.header_extensions),
        extmap_allow_mixed=rtp and (common.extmap_allow_mixed or session.extmap_allow_mixed),
        sources=tuple(Source(ssrc, tuple(params)) for ssrc, params in draft.sources.items()),
        source_groups=tuple(draft.source_groups),
        msid=tuple(draft.msid),
        bandwidths=tuple(draft.bandwidths),
        ptime=draft.ptime,
        maxptime=draft.maxptime,
        ufrag=common.ufrag or session.ufrag,
        pwd=common.pwd or session.pwd,
        fingerprints=tuple(common.fingerprints or session.fingerprints),
        setup=common.setup or session.setup,
        candidates=tuple(draft.candidates),
        end_of_candidates=draft.end_of_candidates,
        attributes=tuple(draft.attributes),
    )


def _parse_origin(value: str) -> Origin:
    bits = value.split()
    if len(bits) != 6:
        raise SdpError(f"malformed o= line: {excerpt(value)}")
    return Origin(bits[0], bits[1], bits[2])


def _parse_group(value: str) -> Group:
    bits = value.split()
    if not bits:
        raise SdpError("a=group without semantics")
    return Group(bits[0], tuple(bits[1:]))


def _parse_bandwidth(value: str) -> Bandwidth:
    kind, colon, amount = value.partition(":")
    if not colon or not _TOKEN.fullmatch(kind):
        raise SdpError(f"malformed b= line: {excerpt(value)}")
    return Bandwidth(kind, _int(amount.strip(), "bandwidth", 0, 2**53))


def _lines(text: str) -> list[str]:
    if not isinstance(text, str):
        raise SdpError("SDP must be a string")
    if len(text) > MAX_SDP_SIZE:
        raise SdpError(f"SDP larger than {MAX_SDP_SIZE} characters")
    if _UNSAFE_IN_SDP.search(text):
        raise SdpError("SDP contains control characters")
    lines = []
    for raw in text.split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        if "\r" in line:
            raise SdpError("SDP contains a bare carriage return")
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError(f"not an SDP line: {excerpt(line)}")
        lines.append(line)
    if not lines or lines[0].strip() != "v=0":
        raise SdpError("SDP must start with v=0")
    return lines


def parse_sdp(text: str) -> Session:
    """The normalized session `text` describes; `SdpError` if it is not SDP we can carry."""
    session = _Common()
    origin: Origin | None = None
    groups: list[Group] = []
    attributes: list[Attribute] = []
    drafts: list[_MediaDraft] = []
    for line in _lines(text)[1:]:
        kind, value = line[0], line[2:]
        if kind == "m":
            drafts.append(_parse_media_line(value))
        elif not drafts:
            if kind == "o":
                origin = _parse_origin(value)
            elif kind == "a":
                attr = _split_attribute(value)
                if attr.name == "group":
                    groups.append(_parse_group(_value(attr.value, "group")))
                elif not _parse_common(session, attr):
                    attributes.append(attr)
        elif kind == "a":
            _parse_media_attribute(drafts[-1], _split_attribute(value))
        elif kind == "b":
            drafts[-1].bandwidths.append(_parse_bandwidth(value))
    media = tuple(_finish_media(d, i, session) for i, d in enumerate(drafts))
    check_unique_mids(media)
    return normalize(Session(media, tuple(groups), origin, tuple(attributes)))


# -- writing ------------------------------------------------------------------------------


def _fmtp(parameters: tuple[Parameter, ...]) -> str:
    return ";".join(f"{p.name}={p.value}" if p.name else p.value for p in parameters)


def _payload_lines(p: PayloadType) -> list[str]:
    encoding = f"{p.name}/{p.clockrate}" + ("" if p.channels is None else f"/{p.channels}")
    lines = [f"a=rtpmap:{p.id} {encoding}"]
    for fb in p.feedback:
        lines.append(f"a=rtcp-fb:{p.id} {fb.type}" + (f" {fb.subtype}" if fb.subtype else ""))
    if p.trr_int is not None:
        lines.append(f"a=rtcp-fb:{p.id} trr-int {p.trr_int}")
    if p.parameters:
        lines.append(f"a=fmtp:{p.id} {_fmtp(p.parameters)}")
    return lines


def _extmap_line(ext: HeaderExtension) -> str:
    direction = "" if ext.direction is Direction.SENDRECV else "/" + ext.direction.value
    params = "".join(f" {p.name}={p.value}" if p.value else f" {p.name}" for p in ext.parameters)
    return f"a=extmap:{ext.id}{direction} {ext.uri}{params}"


def _media_lines(m: Media) -> list[str]:
    formats = [str(p.id) for p in m.payloads] if m.is_rtp else list(m.formats)
    if not formats:
        raise SdpError(f"m-line {excerpt(m.mid)} has no formats")
    lines = [f"m={m.kind} {m.port} {m.protocol} {' '.join(formats)}", "c=IN IP4 0.0.0.0"]
    lines += [f"b={b.type}:{b.value}" for b in m.bandwidths]
    lines += ["a=" + format_candidate(c) for c in m.candidates]
    if m.end_of_candidates:
        lines.append("a=end-of-candidates")
    if m.ufrag is not None:
        lines.append(f"a=ice-ufrag:{m.ufrag}")
    if m.pwd is not None:
        lines.append(f"a=ice-pwd:{m.pwd}")
    lines += [f"a=fingerprint:{f.hash} {f.value}" for f in m.fingerprints]
    if m.setup is not None:
        lines.append(f"a=setup:{m.setup.value}")
    lines.append(f"a=mid:{m.mid}")
    lines += [_extmap_line(ext) for ext in m.header_extensions]
    if m.extmap_allow_mixed:
        lines.append("a=extmap-allow-mixed")
    lines.append(f"a={m.direction.value}")
    lines += [f"a=msid:{value}" for value in m.msid]
    if m.rtcp_mux:
        lines.append("a=rtcp-mux")
    for p in m.payloads:
        lines += _payload_lines(p)
    for fb in m.feedback:
        lines.append(f"a=rtcp-fb:* {fb.type}" + (f" {fb.subtype}" if fb.subtype else ""))
    if m.trr_int is not None:
        lines.append(f"a=rtcp-fb:* trr-int {m.trr_int}")
    if m.ptime is not None:
        lines.append(f"a=ptime:{m.ptime}")
    if m.maxptime is not None:
        lines.append(f"a=maxptime:{m.maxptime}")
    for group in m.source_groups:
        lines.append(f"a=ssrc-group:{group.semantics} " + " ".join(map(str, group.ssrcs)))
    for source in m.sources:
        for sp in source.parameters:
            suffix = "" if sp.value is None else ":" + sp.value
            lines.append(f"a=ssrc:{source.ssrc} {sp.name}{suffix}")
    lines += [attr.line() for attr in m.attributes]
    return lines


def write_sdp(session: Session) -> str:
    """SDP text for `session` (CRLF line ends). The origin defaults to ``- 0 0``."""
    origin = session.origin or Origin("-", "0", "0")
    lines = [
        "v=0",
        f"o={origin.username} {origin.session_id} {origin.session_version} IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
    ]
    for group in session.groups:
        lines.append(" ".join([f"a=group:{group.semantics}", *group.mids]))
    lines += [attr.line() for attr in session.attributes]
    for media in session.media:
        lines += _media_lines(media)
    return "\r\n".join(lines) + "\r\n"
