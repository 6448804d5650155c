"""A deliberately small SDP ⇄ Jingle translation for the test side only.

The native WebRTC test peer (tests/interop/native_webrtc.py) needs Jingle for aiortc's SDP and
SDP for the Jingle it receives. It must not borrow the product's own translation (that would test
the product against itself), so this is a separate one written from the XEPs, covering what
aiortc and libwebrtc put in an audio/video session and nothing more:

* XEP-0166 Jingle: ``<content creator name senders>``; contents are always created by the
  initiator; ``senders`` ⇄ ``a=sendrecv/sendonly/recvonly/inactive`` seen from the author;
* XEP-0167 RTP: ``<description media>``, ``<payload-type id name clockrate channels>`` with
  ``<parameter name value>`` (``a=rtpmap`` / ``a=fmtp``) and ``<rtcp-mux/>``;
* XEP-0293 ``<rtcp-fb type subtype>`` (``a=rtcp-fb``; under a payload type, or under the
  description for ``*``);
* XEP-0294 ``<rtp-hdrext id uri>`` and ``<extmap-allow-mixed/>`` (``a=extmap``);
* XEP-0339 ``<source ssrc>`` with ``<parameter name value>`` and ``<ssrc-group semantics>``
  (``a=ssrc`` / ``a=ssrc-group``); the media-level ``a=msid`` travels as each source's ``msid``
  parameter and comes back as ``a=msid`` from the first source carrying one;
* XEP-0176 ICE-UDP ``<transport ufrag pwd>`` and ``<candidate component foundation generation id
  ip network port priority protocol type rel-addr rel-port>`` (``a=candidate`` with
  ``raddr``/``rport``; there is no Jingle end-of-candidates, so none is written unless asked);
* XEP-0320 ``<fingerprint hash setup>`` (``a=fingerprint`` + ``a=setup``); only the hashes
  asked for are sent (sha-256 by default, as libwebrtc does; aiortc offers three);
* XEP-0338 ``<group semantics><content name/></group>`` (``a=group:BUNDLE``).

Anything else (data channels, unknown attributes) is dropped. Both directions raise ValueError
on input they cannot translate.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

JINGLE = "urn:xmpp:jingle:1"  # XEP-0166
RTP = "urn:xmpp:jingle:apps:rtp:1"  # XEP-0167
ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"  # XEP-0176
RTCP_FB = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"  # XEP-0293
RTP_HDREXT = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"  # XEP-0294
DTLS = "urn:xmpp:jingle:apps:dtls:0"  # XEP-0320
GROUPING = "urn:xmpp:jingle:apps:grouping:0"  # XEP-0338
SSMA = "urn:xmpp:jingle:apps:rtp:ssma:0"  # XEP-0339

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
STATIC_PAYLOADS = {"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000"}  # RFC 3551


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


# -- SDP parsing (just enough) --------------------------------------------------------------


@dataclass
class _Section:
    kind: str
    formats: list[str]
    attributes: list[tuple[str, str]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.attributes if key == name]

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.attributes)


def _parse_sdp(sdp: str) -> tuple[_Section, list[_Section]]:
    session = _Section("session", [])
    media: list[_Section] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4:
                raise ValueError(f"bad media line {line!r}")
            media.append(_Section(parts[0], parts[3:]))
        elif line.startswith("a="):
            key, _, value = line[2:].partition(":")
            (media[-1] if media else session).attributes.append((key, value))
    if not media:
        raise ValueError("SDP without media")
    return session, media


# -- candidates (XEP-0176 ⇄ a=candidate) -----------------------------------------------------


def candidate_to_jingle(value: str) -> Element:
    """``foundation component protocol priority ip port typ type [raddr a rport p] …`` (the value
    of an ``a=candidate:`` line, with or without that prefix) → ``<candidate/>``."""
    bits = value.removeprefix("a=").removeprefix("candidate:").split()
    if len(bits) < 8 or bits[6] != "typ":
        raise ValueError(f"bad candidate {value!r}")
    extra = dict(zip(bits[8::2], bits[9::2], strict=False))
    attrs = {
        "foundation": bits[0],
        "component": bits[1],
        "protocol": bits[2].lower(),
        "priority": bits[3],
        "ip": bits[4],
        "port": bits[5],
        "type": bits[7],
        "generation": extra.get("generation", "0"),
        "network": extra.get("network-id", "0"),
        "id": secrets.token_hex(5),
    }
    if "raddr" in extra:
        attrs["rel-addr"] = extra["raddr"]
    if "rport" in extra:
        attrs["rel-port"] = extra["rport"]
    return Element(_q(ICE_UDP, "candidate"), attrs)


def candidate_to_sdp(candidate: Element) -> str:
    """``<candidate/>`` → the value of an ``a=candidate:`` line (without the prefix)."""
    try:
        value = (
            f"{candidate.attrib['foundation']} {candidate.attrib['component']} "
            f"{candidate.attrib['protocol']} {candidate.attrib['priority']} "
            f"{candidate.attrib['ip']} {candidate.attrib['port']} typ {candidate.attrib['type']}"
        )
    except KeyError as exc:
        raise ValueError(f"candidate without {exc.args[0]}") from None
    if candidate.get("rel-addr") is not None and candidate.get("rel-port") is not None:
        value += f" raddr {candidate.get('rel-addr')} rport {candidate.get('rel-port')}"
    return value + f" generation {candidate.get('generation', '0')}"


# -- SDP → Jingle ----------------------------------------------------------------------------


def _senders(direction: str, author: str) -> str:
    other = "responder" if author == "initiator" else "initiator"
    return {"sendrecv": "both", "inactive": "none", "sendonly": author, "recvonly": other}[
        direction
    ]


def _direction(senders: str | None, author: str) -> str:
    if senders in (None, "both"):
        return "sendrecv"
    if senders == "none":
        return "inactive"
    return "sendonly" if senders == author else "recvonly"


def _feedback(parent: Element, value: str) -> None:
    kind, _, subtype = value.partition(" ")
    attrs = {"type": kind} | ({"subtype": subtype} if subtype else {})
    SubElement(parent, _q(RTCP_FB, "rtcp-fb"), attrs)


def _description(section: _Section, session: _Section) -> Element:
    description = Element(_q(RTP, "description"), {"media": section.kind})
    rtpmap = dict(v.split(" ", 1) for v in section.all("rtpmap"))
    fmtp = dict(v.split(" ", 1) for v in section.all("fmtp") if " " in v)
    feedback: dict[str, list[str]] = {}
    for value in section.all("rtcp-fb"):
        pt, _, rest = value.partition(" ")
        feedback.setdefault(pt, []).append(rest)
    for pt in section.formats:
        encoding = rtpmap.get(pt, STATIC_PAYLOADS.get(pt))
        if encoding is None:
            raise ValueError(f"payload type {pt} without rtpmap")
        name, clockrate, *channels = encoding.split("/")
        attrs = {"id": pt, "name": name, "clockrate": clockrate}
        if channels and channels[0] != "1":
            attrs["channels"] = channels[0]
        payload = SubElement(description, _q(RTP, "payload-type"), attrs)
        for parameter in fmtp.get(pt, "").split(";"):
            key, _, value = parameter.strip().partition("=")
            if key:
                SubElement(payload, _q(RTP, "parameter"), {"name": key, "value": value})
        for value in feedback.get(pt, []):
            _feedback(payload, value)
    for value in feedback.get("*", []):
        _feedback(description, value)
    for value in section.all("extmap"):
        ident, uri = value.split()[:2]
        SubElement(
            description, _q(RTP_HDREXT, "rtp-hdrext"), {"id": ident.split("/")[0], "uri": uri}
        )
    if section.has("extmap-allow-mixed") or session.has("extmap-allow-mixed"):
        SubElement(description, _q(RTP_HDREXT, "extmap-allow-mixed"))
    sources: dict[str, list[tuple[str, str]]] = {}
    for value in section.all("ssrc"):
        ssrc, _, rest = value.partition(" ")
        name, _, parameter = rest.partition(":")
        sources.setdefault(ssrc, []).append((name, parameter))
    msid = section.first("msid")
    for ssrc, parameters in sources.items():
        if msid and not any(name == "msid" for name, _ in parameters):
            parameters.append(("msid", msid))
        source = SubElement(description, _q(SSMA, "source"), {"ssrc": ssrc})
        for name, value in parameters:
            SubElement(source, _q(SSMA, "parameter"), {"name": name, "value": value})
    for value in section.all("ssrc-group"):
        semantics, *ssrcs = value.split()
        group = SubElement(description, _q(SSMA, "ssrc-group"), {"semantics": semantics})
        for ssrc in ssrcs:
            SubElement(group, _q(SSMA, "source"), {"ssrc": ssrc})
    if section.has("rtcp-mux"):
        SubElement(description, _q(RTP, "rtcp-mux"))
    return description


def _transport(
    section: _Section, session: _Section, *, candidates: bool, hashes: Sequence[str]
) -> Element:
    ufrag = section.first("ice-ufrag") or session.first("ice-ufrag")
    pwd = section.first("ice-pwd") or session.first("ice-pwd")
    if not ufrag or not pwd:
        raise ValueError("media without ice-ufrag/ice-pwd")
    transport = Element(_q(ICE_UDP, "transport"), {"ufrag": ufrag, "pwd": pwd})
    setup = section.first("setup") or session.first("setup")
    for value in section.all("fingerprint") or session.all("fingerprint"):
        hash_, fingerprint = value.split()
        if hash_.lower() in hashes:
            attrs = {"hash": hash_.lower()} | ({"setup": setup} if setup else {})
            SubElement(transport, _q(DTLS, "fingerprint"), attrs).text = fingerprint
    if candidates:
        transport.extend(candidate_to_jingle(value) for value in section.all("candidate"))
    return transport


def sdp_to_jingle(
    sdp: str,
    action: str,
    sid: str,
    *,
    author: str = "initiator",
    initiator: str | None = None,
    responder: str | None = None,
    candidates: bool = True,
    hashes: Sequence[str] = ("sha-256",),
) -> Element:
    """``<jingle action sid>`` with one content per audio/video m-section of `sdp` and the
    BUNDLE group; `author` ("initiator"/"responder") is who wrote the SDP. Without `candidates`
    the transports carry none (to trickle them in transport-info)."""
    session, sections = _parse_sdp(sdp)
    attrs = {"action": action, "sid": sid}
    attrs |= {"initiator": initiator} if initiator else {}
    attrs |= {"responder": responder} if responder else {}
    jingle = Element(_q(JINGLE, "jingle"), attrs)
    for section in sections:
        if section.kind not in ("audio", "video"):
            continue
        name = section.first("mid")
        if name is None:
            raise ValueError(f"{section.kind} section without a=mid")
        direction = next((d for d in DIRECTIONS if section.has(d)), "sendrecv")
        content = SubElement(
            jingle,
            _q(JINGLE, "content"),
            {"creator": "initiator", "name": name, "senders": _senders(direction, author)},
        )
        content.append(_description(section, session))
        content.append(_transport(section, session, candidates=candidates, hashes=hashes))
    for value in session.all("group"):
        semantics, *names = value.split()
        group = SubElement(jingle, _q(GROUPING, "group"), {"semantics": semantics})
        for name in names:
            SubElement(group, _q(GROUPING, "content"), {"name": name})
    return jingle


# -- Jingle → SDP ----------------------------------------------------------------------------


def _feedback_lines(pt: str, parent: Element) -> list[str]:
    lines = []
    for fb in parent.findall(_q(RTCP_FB, "rtcp-fb")):
        subtype = fb.get("subtype")
        lines.append(f"a=rtcp-fb:{pt} {fb.get('type')}" + (f" {subtype}" if subtype else ""))
    return lines


def _media_lines(content: Element, author: str, end_of_candidates: bool) -> list[str]:
    name = content.get("name")
    description = content.find(_q(RTP, "description"))
    transport = content.find(_q(ICE_UDP, "transport"))
    if name is None or description is None or transport is None:
        raise ValueError(f"content {name!r} without name, RTP description or ICE-UDP transport")
    payloads = description.findall(_q(RTP, "payload-type"))
    ids = [payload.get("id", "") for payload in payloads]
    if not payloads or not all(i.isdigit() for i in ids):
        raise ValueError(f"content {name!r} without valid payload types")
    lines = [
        f"m={description.get('media')} 9 UDP/TLS/RTP/SAVPF {' '.join(ids)}",
        "c=IN IP4 0.0.0.0",
        f"a=mid:{name}",
        f"a={_direction(content.get('senders'), author)}",
    ]
    if description.find(_q(RTP, "rtcp-mux")) is not None:
        lines.append("a=rtcp-mux")
    for ext in description.findall(_q(RTP_HDREXT, "rtp-hdrext")):
        lines.append(f"a=extmap:{ext.get('id')} {ext.get('uri')}")
    if description.find(_q(RTP_HDREXT, "extmap-allow-mixed")) is not None:
        lines.append("a=extmap-allow-mixed")
    sources = description.findall(_q(SSMA, "source"))
    msids = [
        p.get("value")
        for source in sources
        for p in source.findall(_q(SSMA, "parameter"))
        if p.get("name") == "msid" and p.get("value")
    ]
    if msids:
        lines.append(f"a=msid:{msids[0]}")
    for group in description.findall(_q(SSMA, "ssrc-group")):
        ssrcs = " ".join(s.get("ssrc", "") for s in group.findall(_q(SSMA, "source")))
        lines.append(f"a=ssrc-group:{group.get('semantics')} {ssrcs}")
    for source in sources:
        for parameter in source.findall(_q(SSMA, "parameter")):
            value = parameter.get("value")
            suffix = f":{value}" if value else ""
            lines.append(f"a=ssrc:{source.get('ssrc')} {parameter.get('name')}{suffix}")
    for payload in payloads:
        pt = payload.get("id", "")
        channels = payload.get("channels")
        encoding = f"{payload.get('name')}/{payload.get('clockrate')}"
        lines.append(f"a=rtpmap:{pt} {encoding}" + (f"/{channels}" if channels else ""))
        lines.extend(_feedback_lines(pt, payload))
        parameters = [
            f"{p.get('name')}={p.get('value')}" if p.get("value") else f"{p.get('name')}"
            for p in payload.findall(_q(RTP, "parameter"))
        ]
        if parameters:
            lines.append(f"a=fmtp:{pt} {';'.join(parameters)}")
    lines.extend(_feedback_lines("*", description))
    lines.extend(transport_lines(transport, end_of_candidates=end_of_candidates))
    return lines


def transport_lines(transport: Element, *, end_of_candidates: bool = False) -> list[str]:
    """The SDP lines of a XEP-0176 transport: candidates, ICE credentials, fingerprint, setup."""
    lines = [
        "a=candidate:" + candidate_to_sdp(c) for c in transport.findall(_q(ICE_UDP, "candidate"))
    ]
    if end_of_candidates:
        lines.append("a=end-of-candidates")
    if transport.get("ufrag") and transport.get("pwd"):
        lines += [f"a=ice-ufrag:{transport.get('ufrag')}", f"a=ice-pwd:{transport.get('pwd')}"]
    setup = None
    for fingerprint in transport.findall(_q(DTLS, "fingerprint")):
        lines.append(f"a=fingerprint:{fingerprint.get('hash')} {(fingerprint.text or '').strip()}")
        setup = setup or fingerprint.get("setup")
    if setup:
        lines.append(f"a=setup:{setup}")
    return lines


def jingle_to_sdp(
    jingle: Element, *, author: str = "initiator", end_of_candidates: bool = False
) -> str:
    """The SDP of a session-initiate or session-accept written by `author`."""
    contents = jingle.findall(_q(JINGLE, "content"))
    if not contents:
        raise ValueError(f"{jingle.get('action')} without contents")
    origin = secrets.randbelow(2**62)
    lines = ["v=0", f"o=- {origin} 2 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    for group in jingle.findall(_q(GROUPING, "group")):
        names = " ".join(c.get("name", "") for c in group.findall(_q(GROUPING, "content")))
        lines.append(f"a=group:{group.get('semantics')} {names}")
    lines.append("a=msid-semantic:WMS *")
    for content in contents:
        lines.extend(_media_lines(content, author, end_of_candidates))
    return "\r\n".join(lines) + "\r\n"


def bundle_groups(jingle: Element) -> list[list[str]]:
    """The content names of each XEP-0338 BUNDLE group, in order."""
    return [
        [c.get("name", "") for c in group.findall(_q(GROUPING, "content"))]
        for group in jingle.findall(_q(GROUPING, "group"))
        if group.get("semantics") == "BUNDLE"
    ]


def transport_candidates(jingle: Element) -> Iterable[tuple[str, Element]]:
    """(content name, <candidate/>) for each candidate of a transport-info (or any action)."""
    for content in jingle.findall(_q(JINGLE, "content")):
        for candidate in content.findall(f"{_q(ICE_UDP, 'transport')}/{_q(ICE_UDP, 'candidate')}"):
            yield content.get("name", ""), candidate
