"""SDP ⇄ Jingle for the JSON bridge (SPEC §5). Pure: no I/O, no asyncio.

A JSON client speaks WebRTC (SDP offers and answers, trickled ICE candidates); a native client
speaks Jingle. This module translates one into the other:

- `sdp_to_jingle()`: an SDP offer or answer → ``<jingle action sid …>`` with one ``<content>``
  per m-line. Wrap it in an ``<iq type='set'>`` and send it.
- `jingle_to_sdp()`: a received ``<jingle/>`` (session-initiate, session-accept, content-add,
  transport-replace…) → SDP that libwebrtc and aiortc accept; give it to the JSON client as
  ``sdp_offer`` / ``sdp_answer``. For the actions after the first offer/answer, the SDP holds
  the contents of that action only: merging it into the current session is the caller's job.
- `candidate_to_jingle()`: a trickled ``ice_candidate`` → the content name and the
  ``<transport/>`` to send in a transport-info (`transport_info()` builds the ``<jingle/>``);
  `jingle_candidates()` / `jingle_candidate_to_sdp()`: a received transport-info → the
  ``{candidate, sdpMid, sdpMLineIndex}`` objects to pass on.
- Every failure is an `SdpError` (a ``ValueError``) whose message suits a JSON ``bad_request``
  or the text of a Jingle ``<bad-request/>``; no other exception escapes for bad input.

Who wrote it matters: SDP directions (``sendonly``…) are the writer's view, Jingle ``senders``
names the session's initiator or responder. Both directions take ``role``, the role of the party
that *wrote* the SDP or *sent* the Jingle; it defaults to the initiator for session-initiate and
the responder for session-accept and must be given for other actions (a renegotiation may come
from either side). When a Jingle fingerprint has no ``setup``, offers (session-initiate,
content-add, content-modify, transport-replace) get ``actpass`` and answers (session-accept,
content-accept, transport-accept) ``active``.

Representation choices (the mapping itself is listed in `sdp_jingle`):

- msid: XEP-0339 ``<parameter name='msid' value='<stream> <track>'/>`` on each ``<source/>`` —
  what Conversations sends and reads. ``a=msid`` is written from it, and ``a=ssrc:… msid:…``
  too, so that both Unified Plan and older stacks find the stream.
- Unknown SDP attributes survive SDP → Jingle → SDP as ``<attribute name value?/>`` elements in
  the private namespace ``urn:xmpp-video:jingle:sdp:0`` (other clients ignore them), and so do
  the other SDP details the XEPs lack (see `sdp_jingle`).
- Trickle ICE: a candidate travels in a XEP-0176 transport-info; the end of candidates (a JSON
  ``candidate: null``, or an empty candidate string) is a private ``<end-of-candidates/>`` in the
  transport, and comes back out as an `IceCandidate` whose ``candidate`` is ``""``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Final, TypedDict
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.bridge.sdp_jingle import (
    ICE_UDP,
    JINGLE,
    SDP_EXT,
    candidate_element,
    jingle_to_session,
    read_transport,
    session_to_jingle,
)
from xmpp_video.bridge.sdp_model import TEXT, TOKEN, Origin, Role, SdpError, Setup, excerpt
from xmpp_video.bridge.sdp_text import format_candidate, parse_candidate, parse_sdp, write_sdp

__all__ = [
    "ANSWER_ACTIONS",
    "JINGLE_ACTIONS",
    "OFFER_ACTIONS",
    "IceCandidate",
    "IceCandidateJson",
    "Role",
    "SdpError",
    "candidate_to_jingle",
    "jingle_candidate_to_sdp",
    "jingle_candidates",
    "jingle_to_sdp",
    "sdp_to_jingle",
    "transport_info",
]

JINGLE_ACTIONS: Final = frozenset(
    {
        "content-accept",
        "content-add",
        "content-modify",
        "content-reject",
        "content-remove",
        "description-info",
        "security-info",
        "session-accept",
        "session-info",
        "session-initiate",
        "session-terminate",
        "transport-accept",
        "transport-info",
        "transport-reject",
        "transport-replace",
    }
)
OFFER_ACTIONS: Final = frozenset(
    {"session-initiate", "content-add", "content-modify", "transport-replace"}
)
ANSWER_ACTIONS: Final = frozenset({"session-accept", "content-accept", "transport-accept"})

_TOKEN: Final = TOKEN
_CREATORS: Final = frozenset({Role.INITIATOR.value, Role.RESPONDER.value})


class IceCandidateJson(TypedDict):
    """``RTCIceCandidateInit`` as the JSON protocol carries it."""

    candidate: str
    sdpMid: str | None
    sdpMLineIndex: int | None


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """A trickled candidate for a JSON client. ``candidate`` is the attribute value starting
    ``candidate:``, or ``""`` for the end of candidates (as browsers emit it)."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None

    @property
    def end_of_candidates(self) -> bool:
        return not self.candidate

    def as_json(self) -> IceCandidateJson:
        return {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
        }


def _role(action: str | None, role: Role | None) -> Role:
    if role is not None:
        try:
            return Role(role)
        except ValueError:
            raise SdpError(f"role must be initiator or responder, not {role!r}") from None
    if action == "session-initiate":
        return Role.INITIATOR
    if action == "session-accept":
        return Role.RESPONDER
    raise SdpError(f"say who wrote this {action or 'Jingle'}: role is needed for that action")


def _check_action(action: str) -> None:
    if action not in JINGLE_ACTIONS:
        raise SdpError(f"unknown Jingle action {excerpt(action)}")


def _check_token(value: str, what: str) -> None:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise SdpError(f"{what} must be one non-empty token: {excerpt(str(value))}")


def _check_text(value: str, what: str) -> None:
    """A Jingle attribute that never reaches SDP (sid, JIDs): any XML-safe, non-empty text (a
    JID's resource may hold spaces)."""
    if not isinstance(value, str) or not TEXT.fullmatch(value):
        raise SdpError(f"{what} must be non-empty text without control characters")


def sdp_to_jingle(
    sdp: str,
    *,
    action: str,
    sid: str,
    initiator: str | None = None,
    responder: str | None = None,
    creator: str = "initiator",
    role: Role | None = None,
) -> Element:
    """The ``<jingle xmlns='urn:xmpp:jingle:1'/>`` for `sdp`, written by the party in `role`
    (see the module docstring). `creator` is each content's XEP-0166 creator. Raises
    `SdpError`."""
    _check_action(action)
    _check_text(sid, "sid")
    if creator not in _CREATORS:
        raise SdpError(f"creator must be initiator or responder, not {excerpt(creator)}")
    for jid in (initiator, responder):
        if jid is not None:
            _check_text(jid, "initiator/responder")
    session = parse_sdp(sdp)
    if not session.media:
        raise SdpError("SDP without m-lines")
    if session.origin == _default_origin(sid):
        session = replace(session, origin=None)  # ours, from jingle_to_sdp: not worth carrying
    return session_to_jingle(
        session,
        action=action,
        sid=sid,
        initiator=initiator,
        responder=responder,
        creator=creator,
        role=_role(action, role),
    )


def _default_origin(sid: str) -> Origin:
    digest = hashlib.blake2s(sid.encode(), digest_size=8).digest()
    return Origin("-", str(int.from_bytes(digest, "big") >> 2), "2")


def jingle_to_sdp(jingle: Element, *, role: Role | None = None) -> str:
    """SDP for a ``<jingle/>`` element sent by the party in `role` (see the module
    docstring). Raises `SdpError`."""
    if not isinstance(jingle, Element) or jingle.tag != "{" + JINGLE + "}jingle":
        raise SdpError("not a <jingle xmlns='urn:xmpp:jingle:1'/> element")
    action = jingle.get("action")
    session = jingle_to_session(jingle, role=_role(action, role))
    default_setup = (
        Setup.ACTPASS
        if action in OFFER_ACTIONS
        else Setup.ACTIVE
        if action in ANSWER_ACTIONS
        else None
    )
    if default_setup is not None:
        session = replace(
            session,
            media=tuple(
                m if m.setup is not None or not m.fingerprints else replace(m, setup=default_setup)
                for m in session.media
            ),
        )
    if session.origin is None:
        session = replace(session, origin=_default_origin(jingle.get("sid") or ""))
    return write_sdp(session)


def _content_name(sdp_mid: str | None, sdp_mline_index: int | None, mids: tuple[str, ...]) -> str:
    if sdp_mid is not None and sdp_mid != "":
        _check_token(sdp_mid, "sdpMid")
        return sdp_mid
    if isinstance(sdp_mline_index, int) and not isinstance(sdp_mline_index, bool):
        if 0 <= sdp_mline_index < len(mids):
            return mids[sdp_mline_index]
        if 0 <= sdp_mline_index < 1024:
            return str(sdp_mline_index)  # libwebrtc's and aiortc's mids are the indexes
    raise SdpError("an ICE candidate needs sdpMid or a valid sdpMLineIndex")


def candidate_to_jingle(
    candidate: str | None,
    sdp_mid: str | None,
    sdp_mline_index: int | None,
    *,
    ufrag: str | None = None,
    pwd: str | None = None,
    mids: tuple[str, ...] = (),
) -> tuple[str, Element]:
    """The content name and XEP-0176 ``<transport/>`` carrying one trickled candidate (or, for
    `candidate` None or ``""``, the end of candidates). The transport's ``ufrag`` is `ufrag`,
    else the candidate's own ``ufrag`` extension; `mids` (the session's mids in m-line order)
    resolves a candidate that names only its m-line index. Raises `SdpError`."""
    name = _content_name(sdp_mid, sdp_mline_index, mids)
    transport = Element("{" + ICE_UDP + "}transport")
    if candidate is not None and not isinstance(candidate, str):
        raise SdpError("an ICE candidate must be a string")
    parsed = parse_candidate(candidate) if candidate and candidate.strip() else None
    if ufrag is None and parsed is not None:
        ufrag = next((value for key, value in parsed.extensions if key == "ufrag"), None)
    for key, value in (("ufrag", ufrag), ("pwd", pwd)):
        if value is not None:
            _check_token(value, key)
            transport.set(key, value)
    if parsed is None:
        SubElement(transport, "{" + SDP_EXT + "}end-of-candidates")
    else:
        transport.append(candidate_element(name, parsed))
    return name, transport


def transport_info(
    *, sid: str, content: str, transport: Element, creator: str = "initiator"
) -> Element:
    """A transport-info ``<jingle/>`` carrying `transport` for `content`."""
    _check_text(sid, "sid")
    jingle = Element("{" + JINGLE + "}jingle", {"action": "transport-info", "sid": sid})
    holder = SubElement(jingle, "{" + JINGLE + "}content", {"creator": creator, "name": content})
    holder.append(transport)
    return jingle


def jingle_candidate_to_sdp(
    transport: Element, content: str, *, mline_index: int | None = None
) -> list[IceCandidate]:
    """The candidates of one XEP-0176 ``<transport/>`` of the content named `content` (the
    sdpMid), in order, plus an end-of-candidates entry if it says so. Raises `SdpError`."""
    _check_token(content, "content name")
    fields = read_transport(transport)
    found = [IceCandidate(format_candidate(c), content, mline_index) for c in fields.candidates]
    if fields.end_of_candidates:
        found.append(IceCandidate("", content, mline_index))
    return found


def jingle_candidates(jingle: Element, *, mids: tuple[str, ...] = ()) -> list[IceCandidate]:
    """Every candidate of a transport-info (or any ``<jingle/>``), with sdpMLineIndex taken
    from `mids`, the session's mids in m-line order (None when it is not there)."""
    if not isinstance(jingle, Element) or jingle.tag != "{" + JINGLE + "}jingle":
        raise SdpError("not a <jingle xmlns='urn:xmpp:jingle:1'/> element")
    found: list[IceCandidate] = []
    for content in jingle.findall("{" + JINGLE + "}content"):
        name = content.get("name")
        if name is None:
            raise SdpError("<content/> lacks 'name'")
        index = mids.index(name) if name in mids else None
        for transport in content.findall("{" + ICE_UDP + "}transport"):
            found += jingle_candidate_to_sdp(transport, name, mline_index=index)
    return found
