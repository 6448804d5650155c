"""The typed session model that SDP and Jingle are both translated to and from. Pure.

`xmpp_video.bridge.sdp` is the public face; this module holds the frozen dataclasses both
directions share, the one exception type (`SdpError`), and `normalize()`, which states the few
places where two spellings mean the same thing (so that a round trip can be compared as
structures: ``parse(write(m)) == m`` for every normalized ``m``):

- an attribute given at session level applies to every m-line that does not give its own
  (ICE credentials, fingerprints, setup, ``extmap-allow-mixed``, a direction);
- a missing ``a=mid`` is the m-line's index; every RTP profile is written ``UDP/TLS/RTP/SAVPF``;
  an m-line port is 0 (rejected or bundle-only) or 9 (anything else: ICE decides);
- ``rtpmap`` channels 1 is the same as none; candidate generation absent is 0; the
  transport protocol of a candidate is case-insensitive;
- msid (RFC 8830) is one fact with two SDP spellings, ``a=msid:<stream> <track>`` for the m-line
  and ``a=ssrc:<ssrc> msid:<stream> <track>`` per source. A source without an msid of its own
  takes the m-line's; an m-line without ``a=msid`` takes the one its sources share (when they
  name a single track). Both spellings are written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final


class SdpError(ValueError):
    """Malformed or unconvertible SDP or Jingle. The message says what and where, in words fit
    for a ``bad_request`` error (JSON) or the text of a Jingle ``<bad-request/>``; it never
    echoes more than a short excerpt of the input."""


class Direction(StrEnum):
    """The direction of an m-line or header extension, seen by the party that wrote it."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


class Setup(StrEnum):
    """The DTLS role (RFC 4145 / RFC 5763 ``a=setup``; XEP-0320 ``setup``)."""

    ACTPASS = "actpass"
    ACTIVE = "active"
    PASSIVE = "passive"
    HOLDCONN = "holdconn"


class Role(StrEnum):
    """A party of a Jingle session (XEP-0166 initiator or responder)."""

    INITIATOR = "initiator"
    RESPONDER = "responder"


# What a value may hold so that it fits both an SDP line and an XML attribute: no control
# characters (so no line breaks: no SDP injection), nothing XML 1.0 cannot carry. A token also has
# no whitespace (the Unicode whitespace `str.split()` splits on).
UNSAFE_CHARS: Final = r"\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff"
TEXT: Final = re.compile(f"[^{UNSAFE_CHARS}]+")
TOKEN: Final = re.compile(rf"[^\s{UNSAFE_CHARS}]+")
MSID: Final = re.compile(rf"[^\s{UNSAFE_CHARS}]+( [^\s{UNSAFE_CHARS}]+)?")

RTP_PROFILE: Final = "UDP/TLS/RTP/SAVPF"
DISCARD_PORT: Final = 9  # RFC 8840: the m-line port when ICE picks the real one

# RFC 3551 static payload types: an m-line may list them without an a=rtpmap.
STATIC_PAYLOADS: Final[dict[int, tuple[str, int, int | None]]] = {
    0: ("PCMU", 8000, None),
    3: ("GSM", 8000, None),
    4: ("G723", 8000, None),
    5: ("DVI4", 8000, None),
    6: ("DVI4", 16000, None),
    7: ("LPC", 8000, None),
    8: ("PCMA", 8000, None),
    9: ("G722", 8000, None),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, None),
    12: ("QCELP", 8000, None),
    13: ("CN", 8000, None),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, None),
    16: ("DVI4", 11025, None),
    17: ("DVI4", 22050, None),
    18: ("G729", 8000, None),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}


@dataclass(frozen=True, slots=True)
class Attribute:
    """An SDP attribute line kept as it is (``a=name`` or ``a=name:value``)."""

    name: str
    value: str | None = None

    def line(self) -> str:
        return "a=" + self.name if self.value is None else f"a={self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class Parameter:
    """One format parameter (``a=fmtp`` ``name=value``; ``name`` is empty for a bare value such
    as telephone-event's ``0-16``), or one header-extension attribute (XEP-0294)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Feedback:
    """An ``a=rtcp-fb`` value (XEP-0293): ``type`` and the rest of the line, if any."""

    type: str
    subtype: str | None = None


@dataclass(frozen=True, slots=True)
class PayloadType:
    """An RTP payload type: ``rtpmap`` + ``fmtp`` + ``rtcp-fb`` (XEP-0167, XEP-0293)."""

    id: int
    name: str
    clockrate: int
    channels: int | None = None
    parameters: tuple[Parameter, ...] = ()
    feedback: tuple[Feedback, ...] = ()
    trr_int: int | None = None


@dataclass(frozen=True, slots=True)
class HeaderExtension:
    """An ``a=extmap`` (RFC 8285; XEP-0294)."""

    id: int
    uri: str
    direction: Direction = Direction.SENDRECV
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceParameter:
    """An ``a=ssrc:<ssrc> <name>[:<value>]`` attribute (XEP-0339)."""

    name: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    ssrc: int
    parameters: tuple[SourceParameter, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceGroup:
    """An ``a=ssrc-group`` (XEP-0339), e.g. ``FID`` pairing a stream with its RTX."""

    semantics: str
    ssrcs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """An ``a=fingerprint`` (XEP-0320): hash function and hex value."""

    hash: str
    value: str


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """A media-level ``b=<type>:<value>`` (XEP-0167 ``<bandwidth/>``)."""

    type: str
    value: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """An ICE candidate (RFC 8839 ``a=candidate``; XEP-0176 ``<candidate/>``).

    ``network`` is libwebrtc's ``network-id``; ``extensions`` keeps other extension pairs in
    order (``ufrag``, ``network-cost``…)."""

    foundation: str
    component: int
    protocol: str
    priority: int
    ip: str
    port: int
    type: str
    rel_addr: str | None = None
    rel_port: int | None = None
    tcptype: str | None = None
    generation: int = 0
    network: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Media:
    """One m-line = one Jingle content (its ``mid`` is the content name)."""

    kind: str
    mid: str
    port: int = DISCARD_PORT
    protocol: str = RTP_PROFILE
    formats: tuple[str, ...] = ()  # non-RTP m-lines only (RTP: the payload ids)
    direction: Direction = Direction.SENDRECV
    rtcp_mux: bool = False
    payloads: tuple[PayloadType, ...] = ()
    feedback: tuple[Feedback, ...] = ()  # a=rtcp-fb:* (every payload type)
    trr_int: int | None = None  # a=rtcp-fb:* trr-int
    header_extensions: tuple[HeaderExtension, ...] = ()
    extmap_allow_mixed: bool = False
    sources: tuple[Source, ...] = ()
    source_groups: tuple[SourceGroup, ...] = ()
    msid: tuple[str, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    ptime: int | None = None
    maxptime: int | None = None
    ufrag: str | None = None
    pwd: str | None = None
    fingerprints: tuple[Fingerprint, ...] = ()
    setup: Setup | None = None
    candidates: tuple[Candidate, ...] = ()
    end_of_candidates: bool = False
    attributes: tuple[Attribute, ...] = ()  # unknown a= lines, in order

    @property
    def is_rtp(self) -> bool:
        return is_rtp_protocol(self.protocol)


@dataclass(frozen=True, slots=True)
class Group:
    """A session-level ``a=group`` (RFC 5888; XEP-0338), e.g. ``BUNDLE 0 1``."""

    semantics: str
    mids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    """The ``o=`` line's username, session id and version (kept for renegotiations)."""

    username: str
    session_id: str
    session_version: str


@dataclass(frozen=True, slots=True)
class Session:
    media: tuple[Media, ...]
    groups: tuple[Group, ...] = ()
    origin: Origin | None = None
    attributes: tuple[Attribute, ...] = ()  # unknown session-level a= lines, in order


def is_rtp_protocol(protocol: str) -> bool:
    return "RTP/" in protocol.upper()


def msid_track(value: str) -> str:
    """The track id (appdata) of an msid value ``<stream> [<track>]``."""
    _, _, track = value.partition(" ")
    return track


def derived_msid(sources: tuple[Source, ...]) -> tuple[str, ...]:
    """The m-line msid its sources imply: their distinct msid values, in order, provided they
    name a single track (Unified Plan); none otherwise."""
    values: list[str] = []
    for source in sources:
        for parameter in source.parameters:
            value = parameter.value
            if parameter.name == "msid" and value and MSID.fullmatch(value) and value not in values:
                values.append(value)
    if len({msid_track(value) for value in values}) != 1:
        return ()
    return tuple(values)


def _complete_sources(sources: tuple[Source, ...], msid: tuple[str, ...]) -> tuple[Source, ...]:
    if not msid:
        return sources
    completed = []
    for source in sources:
        if any(p.name == "msid" for p in source.parameters):
            completed.append(source)
        else:
            extra = tuple(SourceParameter("msid", value) for value in msid)
            completed.append(replace(source, parameters=source.parameters + extra))
    return tuple(completed)


def _without_rtp(media: Media) -> Media:
    """A non-RTP m-line (a data channel) carries none of the RTP-only fields."""
    return replace(
        media,
        rtcp_mux=False,
        payloads=(),
        feedback=(),
        trr_int=None,
        header_extensions=(),
        extmap_allow_mixed=False,
        sources=(),
        source_groups=(),
        msid=(),
        ptime=None,
        maxptime=None,
    )


def normalize_media(media: Media) -> Media:
    """`media` with the equivalences of the module docstring applied (idempotent)."""
    if not media.is_rtp:
        media = _without_rtp(media)
    msid = media.msid or derived_msid(media.sources)
    sources = _complete_sources(media.sources, msid)
    port = 0 if media.port == 0 else DISCARD_PORT
    protocol = RTP_PROFILE if media.is_rtp else media.protocol
    payloads = tuple(replace(p, channels=None) if p.channels == 1 else p for p in media.payloads)
    candidates = tuple(
        replace(c, protocol=c.protocol.lower()) if c.protocol != c.protocol.lower() else c
        for c in media.candidates
    )
    formats = () if media.is_rtp else media.formats
    return replace(
        media,
        msid=msid,
        sources=sources,
        port=port,
        protocol=protocol,
        payloads=payloads,
        candidates=candidates,
        formats=formats,
    )


def normalize(session: Session) -> Session:
    """`session` with the equivalences of the module docstring applied (idempotent)."""
    return replace(session, media=tuple(normalize_media(m) for m in session.media))


def check_unique_mids(media: tuple[Media, ...]) -> None:
    seen: set[str] = set()
    for m in media:
        if m.mid in seen:
            raise SdpError(f"two m-lines/contents are named {excerpt(m.mid)}")
        seen.add(m.mid)


def excerpt(value: str, limit: int = 40) -> str:
    """A short, printable quote of untrusted input for an error message."""
    text = value if len(value) <= limit else value[:limit] + "…"
    return repr(text)
