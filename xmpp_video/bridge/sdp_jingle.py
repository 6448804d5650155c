"""Jingle elements ⇄ the session model of `sdp_model`. Pure.

Standard mappings (one Jingle ``<content>`` per m-line, named by its mid):

- XEP-0167 ``<description media>`` with ``<payload-type id name clockrate channels ptime
  maxptime>`` and ``<parameter name value/>`` (a=fmtp; a bare fmtp value has an empty name),
  ``<bandwidth type>`` (b=) and ``<rtcp-mux/>``; the m-line direction is the content's
  ``senders`` (XEP-0166), read from the point of view of the party that wrote the SDP;
- XEP-0293 ``<rtcp-fb type subtype/>`` and ``<rtcp-fb-trr-int value/>`` inside a payload type,
  or inside the description for ``a=rtcp-fb:*``;
- XEP-0294 ``<rtp-hdrext id uri senders>`` (with ``<parameter/>`` for extension attributes)
  and ``<extmap-allow-mixed/>``;
- XEP-0339 ``<source ssrc>`` with ``<parameter name value?/>`` and ``<ssrc-group semantics>``;
  msid is the source parameter ``msid`` (as Conversations sends and reads it);
- XEP-0176 ``<transport ufrag pwd>`` with ``<candidate component foundation generation id ip
  network? port priority protocol type rel-addr? rel-port? tcptype?/>``; candidate ids are not
  in SDP: they are derived from the candidate (stable, unique per content);
- XEP-0320 ``<fingerprint hash setup>`` inside the transport;
- XEP-0338 ``<group semantics><content name/></group>`` inside ``<jingle>``.

What SDP has and these XEPs lack goes into elements of the private namespace `SDP_EXT`
(``urn:xmpp-video:jingle:sdp:0``), which other clients ignore:

- ``<attribute name value?/>``: an attribute line this converter does not know (session level:
  child of ``<jingle>``; media level: child of ``<description>``), e.g. ``a=rtcp-rsize``,
  ``a=ice-options:trickle``, ``a=rid``, ``a=simulcast``, ``a=msid-semantic``; an m-line msid
  that its sources do not carry is one too (``name='msid'``);
- ``<extension name value/>`` in a ``<candidate>``: candidate extensions other than the XEP's
  (``ufrag``, ``network-cost``…);
- ``<end-of-candidates/>`` in a ``<transport>`` (``a=end-of-candidates``, and the end of a
  trickle);
- ``<origin username session-id session-version/>`` in ``<jingle>``: the ``o=`` line;
- ``<zero-port/>`` in a description: an m-line with port 0 (rejected, or bundle-only);
- ``<description media protocol formats>`` for a non-RTP m-line (a data channel), with its
  ``<attribute/>`` and ``<bandwidth/>`` children.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.bridge.sdp_model import (
    DISCARD_PORT,
    MSID,
    STATIC_PAYLOADS,
    TEXT,
    TOKEN,
    UNSAFE_CHARS,
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
    Role,
    SdpError,
    Session,
    Setup,
    Source,
    SourceGroup,
    SourceParameter,
    check_unique_mids,
    derived_msid,
    excerpt,
    is_rtp_protocol,
    normalize,
)
from xmpp_video.bridge.sdp_text import (
    CANDIDATE_KEYS,
    OTHER_MEDIA_ATTRIBUTES,
    RTP_MEDIA_ATTRIBUTES,
    SESSION_ATTRIBUTES,
    format_candidate,
)
from xmpp_video.stanza import namespaces as ns

JINGLE: Final = ns.JINGLE
RTP: Final = ns.JINGLE_RTP
RTCP_FB: Final = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
HDREXT: Final = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
SSMA: Final = "urn:xmpp:jingle:apps:rtp:ssma:0"
ICE_UDP: Final = "urn:xmpp:jingle:transports:ice-udp:1"
DTLS: Final = "urn:xmpp:jingle:apps:dtls:0"
GROUPING: Final = "urn:xmpp:jingle:apps:grouping:0"
SDP_EXT: Final = "urn:xmpp-video:jingle:sdp:0"

_TOKEN: Final = TOKEN
_TEXT: Final = TEXT
_NAME: Final = re.compile(rf"[^:\s{UNSAFE_CHARS}]+")  # an attribute name: no ':'
_NAME_NO_SLASH: Final = re.compile(rf"[^/\s{UNSAFE_CHARS}]+")  # an rtpmap encoding name
_NAME_NO_EQUALS: Final = re.compile(rf"[^=\s{UNSAFE_CHARS}]+")  # an extmap attribute name
_FMTP_NAME: Final = re.compile(rf"[^=;\s{UNSAFE_CHARS}]+")
_FMTP_VALUE: Final = re.compile(rf"[^;{UNSAFE_CHARS}]*")
_FMTP_BARE: Final = re.compile(rf"[^=;{UNSAFE_CHARS}]+")
_MAX_ID: Final = 2**32 - 1


def _q(namespace: str, local: str) -> str:
    return "{" + namespace + "}" + local


def other(role: Role) -> Role:
    return Role.RESPONDER if role is Role.INITIATOR else Role.INITIATOR


def senders_for(direction: Direction, role: Role) -> str:
    """XEP-0166 ``senders`` for an SDP direction written by the party in `role`."""
    if direction is Direction.SENDRECV:
        return "both"
    if direction is Direction.INACTIVE:
        return "none"
    return (role if direction is Direction.SENDONLY else other(role)).value


def direction_for(senders: str | None, role: Role) -> Direction:
    """The SDP direction, for the party in `role`, of XEP-0166 ``senders``."""
    if senders is None or senders == "both":
        return Direction.SENDRECV
    if senders == "none":
        return Direction.INACTIVE
    if senders not in (Role.INITIATOR.value, Role.RESPONDER.value):
        raise SdpError(f"unknown senders value {excerpt(senders)}")
    return Direction.SENDONLY if senders == role.value else Direction.RECVONLY


def candidate_id(mid: str, candidate: Candidate) -> str:
    """A stable XEP-0176 candidate id (SDP has none): unique per content and candidate."""
    digest = hashlib.blake2s(f"{mid}\n{format_candidate(candidate)}".encode(), digest_size=5)
    return digest.hexdigest()


# -- writing ------------------------------------------------------------------------------


def _set(el: Element, name: str, value: object | None) -> None:
    if value is not None:
        el.set(name, str(value))


def _attribute_element(parent: Element, attr: Attribute) -> None:
    el = SubElement(parent, _q(SDP_EXT, "attribute"), {"name": attr.name})
    _set(el, "value", attr.value)


def _feedback_elements(parent: Element, feedback: Iterable[Feedback], trr: int | None) -> None:
    for fb in feedback:
        el = SubElement(parent, _q(RTCP_FB, "rtcp-fb"), {"type": fb.type})
        _set(el, "subtype", fb.subtype)
    if trr is not None:
        SubElement(parent, _q(RTCP_FB, "rtcp-fb-trr-int"), {"value": str(trr)})


def _payload_element(parent: Element, p: PayloadType, media: Media) -> None:
    el = SubElement(
        parent,
        _q(RTP, "payload-type"),
        {"id": str(p.id), "name": p.name, "clockrate": str(p.clockrate)},
    )
    _set(el, "channels", p.channels)
    _set(el, "ptime", media.ptime)
    _set(el, "maxptime", media.maxptime)
    for param in p.parameters:
        SubElement(el, _q(RTP, "parameter"), {"name": param.name, "value": param.value})
    _feedback_elements(el, p.feedback, p.trr_int)


def _rtp_description(media: Media, role: Role) -> Element:
    desc = Element(_q(RTP, "description"), {"media": media.kind})
    for p in media.payloads:
        _payload_element(desc, p, media)
    _feedback_elements(desc, media.feedback, media.trr_int)
    for ext in media.header_extensions:
        el = SubElement(desc, _q(HDREXT, "rtp-hdrext"), {"id": str(ext.id), "uri": ext.uri})
        if ext.direction is not Direction.SENDRECV:
            el.set("senders", senders_for(ext.direction, role))
        for param in ext.parameters:
            SubElement(el, _q(HDREXT, "parameter"), {"name": param.name, "value": param.value})
    if media.extmap_allow_mixed:
        SubElement(desc, _q(HDREXT, "extmap-allow-mixed"))
    for source in media.sources:
        el = SubElement(desc, _q(SSMA, "source"), {"ssrc": str(source.ssrc)})
        for sp in source.parameters:
            param_el = SubElement(el, _q(SSMA, "parameter"), {"name": sp.name})
            _set(param_el, "value", sp.value)
    for group in media.source_groups:
        el = SubElement(desc, _q(SSMA, "ssrc-group"), {"semantics": group.semantics})
        for ssrc in group.ssrcs:
            SubElement(el, _q(SSMA, "source"), {"ssrc": str(ssrc)})
    for bandwidth in media.bandwidths:
        SubElement(desc, _q(RTP, "bandwidth"), {"type": bandwidth.type}).text = str(bandwidth.value)
    if media.rtcp_mux:
        SubElement(desc, _q(RTP, "rtcp-mux"))
    if media.msid != derived_msid(media.sources):
        for value in media.msid:
            _attribute_element(desc, Attribute("msid", value))
    return desc


def _other_description(media: Media) -> Element:
    desc = Element(
        _q(SDP_EXT, "description"),
        {"media": media.kind, "protocol": media.protocol, "formats": " ".join(media.formats)},
    )
    for bandwidth in media.bandwidths:
        SubElement(desc, _q(SDP_EXT, "bandwidth"), {"type": bandwidth.type}).text = str(
            bandwidth.value
        )
    return desc


def candidate_element(mid: str, c: Candidate) -> Element:
    """A XEP-0176 ``<candidate/>`` for `c`, a candidate of the content `mid`."""
    attrs = {
        "component": str(c.component),
        "foundation": c.foundation,
        "generation": str(c.generation),
        "id": candidate_id(mid, c),
        "ip": c.ip,
        "port": str(c.port),
        "priority": str(c.priority),
        "protocol": c.protocol,
        "type": c.type,
    }
    el = Element(_q(ICE_UDP, "candidate"), attrs)
    _set(el, "network", c.network)
    _set(el, "rel-addr", c.rel_addr)
    _set(el, "rel-port", c.rel_port)
    _set(el, "tcptype", c.tcptype)
    for key, value in c.extensions:
        SubElement(el, _q(SDP_EXT, "extension"), {"name": key, "value": value})
    return el


def transport_element(media: Media) -> Element:
    """The XEP-0176 transport (with XEP-0320 fingerprints) of an m-line."""
    transport = Element(_q(ICE_UDP, "transport"))
    _set(transport, "ufrag", media.ufrag)
    _set(transport, "pwd", media.pwd)
    for fp in media.fingerprints:
        el = SubElement(transport, _q(DTLS, "fingerprint"), {"hash": fp.hash})
        _set(el, "setup", media.setup)
        el.text = fp.value
    if media.setup is not None and not media.fingerprints:
        _attribute_element(transport, Attribute("setup", media.setup.value))
    for candidate in media.candidates:
        transport.append(candidate_element(media.mid, candidate))
    if media.end_of_candidates:
        SubElement(transport, _q(SDP_EXT, "end-of-candidates"))
    return transport


def content_element(media: Media, *, creator: str, role: Role) -> Element:
    content = Element(
        _q(JINGLE, "content"),
        {"creator": creator, "name": media.mid, "senders": senders_for(media.direction, role)},
    )
    desc = _rtp_description(media, role) if media.is_rtp else _other_description(media)
    if media.port == 0:
        SubElement(desc, _q(SDP_EXT, "zero-port"))
    for attr in media.attributes:
        _attribute_element(desc, attr)
    content.append(desc)
    content.append(transport_element(media))
    return content


def session_to_jingle(
    session: Session,
    *,
    action: str,
    sid: str,
    initiator: str | None,
    responder: str | None,
    creator: str,
    role: Role,
) -> Element:
    jingle = Element(_q(JINGLE, "jingle"), {"action": action, "sid": sid})
    _set(jingle, "initiator", initiator)
    _set(jingle, "responder", responder)
    for media in session.media:
        jingle.append(content_element(media, creator=creator, role=role))
    for group in session.groups:
        el = SubElement(jingle, _q(GROUPING, "group"), {"semantics": group.semantics})
        for mid in group.mids:
            SubElement(el, _q(GROUPING, "content"), {"name": mid})
    if session.origin is not None:
        o = session.origin
        SubElement(
            jingle,
            _q(SDP_EXT, "origin"),
            {
                "username": o.username,
                "session-id": o.session_id,
                "session-version": o.session_version,
            },
        )
    for attr in session.attributes:
        _attribute_element(jingle, attr)
    return jingle


# -- reading ------------------------------------------------------------------------------


def _where(el: Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _str(el: Element, name: str, pattern: re.Pattern[str] = _TOKEN) -> str:
    value = el.get(name)
    if value is None:
        raise SdpError(f"<{_where(el)}/> lacks '{name}'")
    if not pattern.fullmatch(value):
        raise SdpError(f"<{_where(el)}/> has a bad '{name}': {excerpt(value)}")
    return value


def _opt_str(el: Element, name: str, pattern: re.Pattern[str] = _TOKEN) -> str | None:
    return None if el.get(name) is None else _str(el, name, pattern)


def _number(value: str, where: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise SdpError(f"{where} is not a number: {excerpt(value)}")
    number = int(value)
    if not low <= number <= high:
        raise SdpError(f"{where} out of range ({low}-{high}): {number}")
    return number


def _int(el: Element, name: str, low: int, high: int) -> int:
    value = el.get(name)
    if value is None:
        raise SdpError(f"<{_where(el)}/> lacks '{name}'")
    return _number(value, f"<{_where(el)}/> '{name}'", low, high)


def _opt_int(el: Element, name: str, low: int, high: int) -> int | None:
    return None if el.get(name) is None else _int(el, name, low, high)


def _value_text(el: Element, pattern: re.Pattern[str] = _TOKEN) -> str:
    text = (el.text or "").strip()
    if not pattern.fullmatch(text):
        raise SdpError(f"<{_where(el)}/> has a bad value: {excerpt(text)}")
    return text


def _read_attribute(el: Element, known: frozenset[str]) -> Attribute:
    """A private ``<attribute/>``; one naming an attribute that has its own element here (say
    ``rtpmap``) is refused: written as it is, it would contradict that element."""
    name = _str(el, "name", _NAME)
    if name in known:
        raise SdpError(f"a={name} must be given by its own Jingle element")
    value = el.get("value")
    if value is not None and value and not _TEXT.fullmatch(value):
        raise SdpError(f"attribute {name} has a bad value: {excerpt(value)}")
    return Attribute(name, value)


def _read_feedback(parent: Element) -> tuple[tuple[Feedback, ...], int | None]:
    feedback: list[Feedback] = []
    trr: int | None = None
    for el in parent:
        if el.tag == _q(RTCP_FB, "rtcp-fb"):
            fb_type = _str(el, "type")
            if fb_type == "trr-int":
                raise SdpError("trr-int must be an <rtcp-fb-trr-int/>")
            feedback.append(Feedback(fb_type, _opt_str(el, "subtype", _TEXT)))
        elif el.tag == _q(RTCP_FB, "rtcp-fb-trr-int"):
            trr = _int(el, "value", 0, 2**31)
    return tuple(feedback), trr


def _read_payload(el: Element) -> tuple[PayloadType, int | None, int | None]:
    pt = _int(el, "id", 0, 127)
    name = _opt_str(el, "name", _NAME_NO_SLASH) if el.get("name") else None  # optional if static
    clockrate = _opt_int(el, "clockrate", 1, 2**31)
    channels = _opt_int(el, "channels", 1, 255)
    static = STATIC_PAYLOADS.get(pt)
    if name is None or clockrate is None:
        if static is None:
            raise SdpError(f"payload type {pt} lacks a name or clock rate")
        name = static[0] if name is None else name
        clockrate = static[1] if clockrate is None else clockrate
        channels = static[2] if channels is None else channels
    parameters = []
    for child in el:
        if child.tag == _q(RTP, "parameter"):
            param_name = child.get("name") or ""
            value = child.get("value")
            if param_name and not _FMTP_NAME.fullmatch(param_name):
                raise SdpError(f"payload type {pt}: bad parameter name {excerpt(param_name)}")
            if value is None or not (_FMTP_VALUE if param_name else _FMTP_BARE).fullmatch(value):
                raise SdpError(f"payload type {pt}: parameter without a usable value")
            parameters.append(Parameter(param_name, value))
    feedback, trr = _read_feedback(el)
    payload = PayloadType(pt, name, clockrate, channels, tuple(parameters), feedback, trr)
    return payload, _opt_int(el, "ptime", 0, 2**31), _opt_int(el, "maxptime", 0, 2**31)


def _read_hdrext(el: Element, role: Role) -> HeaderExtension:
    parameters = []
    for child in el:
        if child.tag.endswith("}parameter"):
            value = child.get("value") or ""
            if value and not _TOKEN.fullmatch(value):
                raise SdpError(f"rtp-hdrext parameter has a bad value: {excerpt(value)}")
            parameters.append(Parameter(_str(child, "name", _NAME_NO_EQUALS), value))
    return HeaderExtension(
        id=_int(el, "id", 1, 4351),
        uri=_str(el, "uri"),
        direction=direction_for(el.get("senders"), role),
        parameters=tuple(parameters),
    )


def _read_source(el: Element) -> Source:
    parameters = []
    for child in el:
        if child.tag.endswith("}parameter"):
            parameters.append(
                SourceParameter(_str(child, "name", _NAME), _opt_str(child, "value", _TEXT))
            )
    return Source(_int(el, "ssrc", 0, _MAX_ID), tuple(parameters))


def _read_source_group(el: Element) -> SourceGroup:
    ssrcs = tuple(_int(child, "ssrc", 0, _MAX_ID) for child in el if _where(child) == "source")
    if not ssrcs:
        raise SdpError("<ssrc-group/> without sources")
    return SourceGroup(_str(el, "semantics"), ssrcs)


def _common_ptime(values: list[int | None]) -> int | None:
    present = {v for v in values if v is not None}
    return present.pop() if len(present) == 1 else None


def _read_rtp_description(desc: Element, mid: str, direction: Direction, role: Role) -> Media:
    payloads: list[PayloadType] = []
    ptimes: list[int | None] = []
    maxptimes: list[int | None] = []
    extensions: list[HeaderExtension] = []
    sources: list[Source] = []
    groups: list[SourceGroup] = []
    bandwidths: list[Bandwidth] = []
    attributes: list[Attribute] = []
    msid: list[str] = []
    rtcp_mux = allow_mixed = zero_port = False
    for el in desc:
        tag = el.tag
        if tag == _q(RTP, "payload-type"):
            payload, ptime, maxptime = _read_payload(el)
            if any(p.id == payload.id for p in payloads):
                raise SdpError(f"content {excerpt(mid)}: payload type {payload.id} twice")
            payloads.append(payload)
            ptimes.append(ptime)
            maxptimes.append(maxptime)
        elif tag == _q(HDREXT, "rtp-hdrext"):
            extensions.append(_read_hdrext(el, role))
        elif tag == _q(HDREXT, "extmap-allow-mixed"):
            allow_mixed = True
        elif tag == _q(SSMA, "source"):
            sources.append(_read_source(el))
        elif tag == _q(SSMA, "ssrc-group"):
            groups.append(_read_source_group(el))
        elif tag == _q(RTP, "bandwidth"):
            bandwidths.append(_read_bandwidth(el))
        elif tag == _q(RTP, "rtcp-mux"):
            rtcp_mux = True
        elif tag == _q(SDP_EXT, "zero-port"):
            zero_port = True
        elif tag == _q(SDP_EXT, "attribute"):
            if el.get("name") == "msid":
                msid.append(_str(el, "value", MSID))
            else:
                attributes.append(_read_attribute(el, RTP_MEDIA_ATTRIBUTES))
    if not payloads:
        raise SdpError(f"content {excerpt(mid)} has no payload types")
    feedback, trr = _read_feedback(desc)
    return Media(
        kind=_str(desc, "media"),
        mid=mid,
        port=0 if zero_port else DISCARD_PORT,
        direction=direction,
        rtcp_mux=rtcp_mux,
        payloads=tuple(payloads),
        feedback=feedback,
        trr_int=trr,
        header_extensions=tuple(extensions),
        extmap_allow_mixed=allow_mixed,
        sources=tuple(sources),
        source_groups=tuple(groups),
        msid=tuple(msid) or derived_msid(tuple(sources)),
        bandwidths=tuple(bandwidths),
        ptime=_common_ptime(ptimes),
        maxptime=_common_ptime(maxptimes),
        attributes=tuple(attributes),
    )


def _read_bandwidth(el: Element) -> Bandwidth:
    return Bandwidth(_str(el, "type", _NAME), _number(_value_text(el), "bandwidth", 0, 2**53))


def _read_other_description(desc: Element, mid: str, direction: Direction) -> Media:
    formats = tuple(_str(desc, "formats", _TEXT).split())
    if not formats:
        raise SdpError(f"content {excerpt(mid)} has no formats")
    bandwidths = []
    attributes = []
    zero_port = False
    for el in desc:
        if el.tag == _q(SDP_EXT, "bandwidth"):
            bandwidths.append(_read_bandwidth(el))
        elif el.tag == _q(SDP_EXT, "attribute"):
            attributes.append(_read_attribute(el, OTHER_MEDIA_ATTRIBUTES))
        elif el.tag == _q(SDP_EXT, "zero-port"):
            zero_port = True
    protocol = _str(desc, "protocol")
    if is_rtp_protocol(protocol):
        raise SdpError(f"content {excerpt(mid)}: an RTP m-line needs a XEP-0167 description")
    return Media(
        kind=_str(desc, "media"),
        mid=mid,
        port=0 if zero_port else DISCARD_PORT,
        protocol=protocol,
        formats=formats,
        direction=direction,
        bandwidths=tuple(bandwidths),
        attributes=tuple(attributes),
    )


def read_candidate(el: Element) -> Candidate:
    """The candidate a XEP-0176 ``<candidate/>`` describes (its ``id`` is not kept)."""
    extensions = []
    for child in el:
        if child.tag == _q(SDP_EXT, "extension"):
            key = _str(child, "name")
            if key in CANDIDATE_KEYS:
                raise SdpError(f"candidate extension {key} must be an attribute")
            extensions.append((key, _str(child, "value")))
    return Candidate(
        foundation=_str(el, "foundation"),
        component=_int(el, "component", 1, 256),
        protocol=_str(el, "protocol").lower(),
        priority=_int(el, "priority", 0, _MAX_ID),
        ip=_str(el, "ip"),
        port=_int(el, "port", 0, 65535),
        type=_str(el, "type"),
        rel_addr=_opt_str(el, "rel-addr"),
        rel_port=_opt_int(el, "rel-port", 0, 65535),
        tcptype=_opt_str(el, "tcptype"),
        generation=_opt_int(el, "generation", 0, 2**31) or 0,
        network=_opt_int(el, "network", 0, 2**31),
        extensions=tuple(extensions),
    )


@dataclass(frozen=True, slots=True)
class TransportFields:
    """What a XEP-0176 transport (with XEP-0320 fingerprints) says about an m-line."""

    ufrag: str | None
    pwd: str | None
    fingerprints: tuple[Fingerprint, ...]
    setup: Setup | None
    candidates: tuple[Candidate, ...]
    end_of_candidates: bool

    def apply(self, media: Media) -> Media:
        return replace(
            media,
            ufrag=self.ufrag,
            pwd=self.pwd,
            fingerprints=self.fingerprints,
            setup=self.setup,
            candidates=self.candidates,
            end_of_candidates=self.end_of_candidates,
        )


def read_transport(transport: Element) -> TransportFields:
    """The ICE and DTLS fields of a XEP-0176 ``<transport/>``."""
    if transport.tag != _q(ICE_UDP, "transport"):
        raise SdpError(f"unsupported transport {excerpt(transport.tag)}")
    fingerprints: list[Fingerprint] = []
    setup: Setup | None = None
    candidates: list[Candidate] = []
    end = False
    for el in transport:
        if el.tag == _q(DTLS, "fingerprint"):
            fingerprints.append(Fingerprint(_str(el, "hash"), _value_text(el)))
            setup = setup or _read_setup(el.get("setup"))
        elif el.tag == _q(ICE_UDP, "candidate"):
            candidates.append(read_candidate(el))
        elif el.tag == _q(SDP_EXT, "end-of-candidates"):
            end = True
        elif el.tag == _q(SDP_EXT, "attribute") and el.get("name") == "setup":
            setup = setup or _read_setup(el.get("value"))
    return TransportFields(
        ufrag=_opt_str(transport, "ufrag"),
        pwd=_opt_str(transport, "pwd"),
        fingerprints=tuple(fingerprints),
        setup=setup,
        candidates=tuple(candidates),
        end_of_candidates=end,
    )


def _read_setup(value: str | None) -> Setup | None:
    if value is None:
        return None
    try:
        return Setup(value)
    except ValueError:
        raise SdpError(f"unknown DTLS setup {excerpt(value)}") from None


def _read_content(content: Element, role: Role) -> Media:
    mid = _str(content, "name")
    direction = direction_for(content.get("senders"), role)
    desc = content.find(_q(RTP, "description"))
    if desc is not None:
        media = _read_rtp_description(desc, mid, direction, role)
    else:
        desc = content.find(_q(SDP_EXT, "description"))
        if desc is None:
            raise SdpError(f"content {excerpt(mid)} has no RTP description")
        media = _read_other_description(desc, mid, direction)
    transport = content.find(_q(ICE_UDP, "transport"))
    return media if transport is None else read_transport(transport).apply(media)


def _read_group(el: Element) -> Group:
    mids = tuple(_str(c, "name") for c in el if c.tag == _q(GROUPING, "content"))
    return Group(_str(el, "semantics"), mids)


def jingle_to_session(jingle: Element, *, role: Role) -> Session:
    """The normalized session a ``<jingle/>`` element describes, written by `role`."""
    if jingle.tag != _q(JINGLE, "jingle"):
        raise SdpError(f"not a Jingle element: {excerpt(jingle.tag)}")
    media: list[Media] = []
    groups: list[Group] = []
    origin: Origin | None = None
    attributes: list[Attribute] = []
    for el in jingle:
        if el.tag == _q(JINGLE, "content"):
            media.append(_read_content(el, role))
        elif el.tag == _q(GROUPING, "group"):
            groups.append(_read_group(el))
        elif el.tag == _q(SDP_EXT, "origin"):
            origin = Origin(
                _str(el, "username"), _str(el, "session-id"), _str(el, "session-version")
            )
        elif el.tag == _q(SDP_EXT, "attribute"):
            attributes.append(_read_attribute(el, SESSION_ATTRIBUTES))
    if not media:
        raise SdpError("Jingle element without contents")
    check_unique_mids(tuple(media))
    return normalize(Session(tuple(media), tuple(groups), origin, tuple(attributes)))
