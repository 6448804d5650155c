"""What a new SDP offer changes in an established session, and the Jingle elements of each
change (XEP-0166 ``content-*``, XEP-0176 transports). Pure: no I/O, no state.

`classify()` compares a session's current description with a new offer from the same party
and says what changed, by mid: added m-lines, m-lines disabled (port 0), m-lines whose
direction changed, and whether the ICE credentials changed (an ICE restart). An ICE restart
cannot be combined with another change (as Conversations refuses it too); m-lines are never
removed from an offer (JSEP keeps them, disabled), and a mid never changes its media kind.

The builders write the ``<jingle/>`` of each action; the readers apply a received action to a
description (`sdp_model.Session`). Descriptions are always *full*: every m-line in order, as
the WebRTC side needs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.bridge.sdp_jingle import (
    ICE_UDP,
    JINGLE,
    direction_for,
    read_transport,
    senders_for,
    session_to_jingle,
    transport_element,
)
from xmpp_video.bridge.sdp_model import (
    Direction,
    Group,
    Media,
    Role,
    SdpError,
    Session,
    Setup,
    excerpt,
)

BUNDLE = "BUNDLE"


@dataclass(frozen=True, slots=True)
class Changes:
    """What an offer changes, by mid (each tuple in m-line order)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    ice_restart: bool = False

    @property
    def none(self) -> bool:
        return not (self.added or self.removed or self.modified or self.ice_restart)


def by_mid(session: Session) -> dict[str, Media]:
    return {m.mid: m for m in session.media}


def mids(session: Session) -> tuple[str, ...]:
    return tuple(m.mid for m in session.media)


def classify(current: Session, offer: Session) -> Changes:
    """The changes `offer` makes to `current` (both written by the same party). Raises
    `SdpError` for an offer that is not a renegotiation of `current`."""
    known = by_mid(current)
    offered = by_mid(offer)
    for mid in known:
        if mid not in offered:
            raise SdpError(f"the offer drops m-line {excerpt(mid)}: disable it with port 0")
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []
    restart = False
    for media in offer.media:
        before = known.get(media.mid)
        if before is None:
            added.append(media.mid)
            continue
        if media.kind != before.kind:
            raise SdpError(
                f"m-line {excerpt(media.mid)} changes from {before.kind} to {media.kind}"
            )
        if before.port == 0:
            if media.port != 0:
                raise SdpError(f"m-line {excerpt(media.mid)} was disabled: add a new one")
            continue
        if media.port == 0:
            removed.append(media.mid)
            continue
        if (media.ufrag, media.pwd) != (before.ufrag, before.pwd):
            restart = True
        if media.direction is not before.direction:
            modified.append(media.mid)
    changes = Changes(tuple(added), tuple(removed), tuple(modified), restart)
    if restart and (added or removed or modified):
        raise SdpError("an ICE restart cannot be combined with other changes: one at a time")
    return changes


# -- descriptions -------------------------------------------------------------------------


def _bundles(session: Session) -> list[tuple[str, ...]]:
    return [g.mids for g in session.groups if g.semantics == BUNDLE]


def fill_transports(session: Session) -> Session:
    """Every m-line with ICE credentials and fingerprints: a bundled m-line that lacks them
    (a content-add or content-accept may leave them out) takes them from its BUNDLE group's
    first m-line that has them, else from the session's first one. WebRTC stacks (aiortc)
    want them on every m-line, even a disabled one."""
    media = by_mid(session)
    fallback = next((m for m in session.media if m.ufrag and m.pwd), None)

    def source_for(mid: str) -> Media | None:
        for group in _bundles(session):
            if mid in group:
                for other in group:
                    candidate = media.get(other)
                    if candidate is not None and candidate.ufrag and candidate.pwd:
                        return candidate
        return fallback

    filled = []
    for m in session.media:
        source = source_for(m.mid)
        if source is not None and not (m.ufrag and m.pwd):
            m = replace(m, ufrag=source.ufrag, pwd=source.pwd)
        if source is not None and not m.fingerprints:
            m = replace(m, fingerprints=source.fingerprints, setup=m.setup or source.setup)
        filled.append(m)
    return replace(session, media=tuple(filled))


def with_setup(session: Session, setup: Setup) -> Session:
    """`session` with the DTLS role `setup` on every m-line that has a fingerprint."""
    return replace(
        session,
        media=tuple(replace(m, setup=setup) if m.fingerprints else m for m in session.media),
    )


def without_disabled_in_groups(session: Session) -> Session:
    """Disabled m-lines (port 0) taken out of the BUNDLE groups (an empty group dropped)."""
    off = {m.mid for m in session.media if m.port == 0}
    groups = []
    for group in session.groups:
        if group.semantics == BUNDLE:
            kept = tuple(mid for mid in group.mids if mid not in off)
            if kept:
                groups.append(Group(group.semantics, kept))
        else:
            groups.append(group)
    return replace(session, groups=tuple(groups))


def bundled(groups: tuple[Group, ...], new: tuple[str, ...]) -> tuple[Group, ...]:
    """`groups` with the mids `new` added to the first BUNDLE group (a content-add without
    a ``<group/>`` joins the bundle it can only share)."""
    result = list(groups)
    for index, group in enumerate(result):
        if group.semantics == BUNDLE:
            result[index] = Group(BUNDLE, group.mids + tuple(m for m in new if m not in group.mids))
            break
    return tuple(result)


def reverse(direction: Direction) -> Direction:
    if direction is Direction.SENDONLY:
        return Direction.RECVONLY
    if direction is Direction.RECVONLY:
        return Direction.SENDONLY
    return direction


def disabled(media: Media) -> Media:
    """An m-line turned off (rejected or removed): port 0, nothing sent."""
    return replace(
        media, port=0, direction=Direction.INACTIVE, candidates=(), end_of_candidates=False
    )


def update_transport(media: Media, transport: Element) -> Media:
    """`media` with what a received XEP-0176 transport says: new credentials and candidates,
    fingerprints if it has some (a restart keeps the DTLS ones otherwise)."""
    fields = read_transport(transport)
    media = replace(
        media,
        ufrag=fields.ufrag or media.ufrag,
        pwd=fields.pwd or media.pwd,
        candidates=fields.candidates,
        end_of_candidates=fields.end_of_candidates,
    )
    if fields.fingerprints:
        media = replace(media, fingerprints=fields.fingerprints, setup=fields.setup)
    return media


def transport_credentials(jingle: Element) -> tuple[str, str] | None:
    """The first (ufrag, pwd) pair a ``<jingle/>``'s transports carry, if any."""
    for transport in jingle.iter("{" + ICE_UDP + "}transport"):
        ufrag, pwd = transport.get("ufrag"), transport.get("pwd")
        if ufrag and pwd:
            return ufrag, pwd
    return None


def apply_transports(session: Session, jingle: Element) -> tuple[Session, tuple[str, ...]]:
    """`session` with the transports of a transport-replace / transport-accept /
    transport-info applied to their contents, and the new credentials spread over each
    content's BUNDLE group. Returns the session and the content names it named."""
    media = by_mid(session)
    named: list[str] = []
    for content in contents(jingle):
        name = content_name(content)
        transport = content.find("{" + ICE_UDP + "}transport")
        if name not in media:
            raise SdpError(f"no content {excerpt(name)} in this session")
        if transport is not None:
            media[name] = update_transport(media[name], transport)
            named.append(name)
    for group in _bundles(session):
        source = next((media[mid] for mid in group if mid in named), None)
        if source is None:
            continue
        for mid in group:
            if mid in media and mid not in named:
                media[mid] = replace(media[mid], ufrag=source.ufrag, pwd=source.pwd)
    return replace(session, media=tuple(media[m.mid] for m in session.media)), tuple(named)


# -- reading actions ----------------------------------------------------------------------


def contents(jingle: Element) -> list[Element]:
    return jingle.findall("{" + JINGLE + "}content")


def content_name(content: Element) -> str:
    name = content.get("name")
    if not name:
        raise SdpError("<content/> lacks 'name'")
    return name


def content_names(jingle: Element) -> tuple[str, ...]:
    names = tuple(content_name(c) for c in contents(jingle))
    if not names:
        raise SdpError(f"{jingle.get('action')} without contents")
    return names


def modified_directions(session: Session, jingle: Element, sender: Role) -> Session:
    """`session` (written by `sender`) after `sender`'s content-modify."""
    media = by_mid(session)
    for content in contents(jingle):
        name = content_name(content)
        if name not in media:
            raise SdpError(f"no content {excerpt(name)} in this session")
        direction = direction_for(content.get("senders"), sender)
        media[name] = replace(media[name], direction=direction)
    return replace(session, media=tuple(media[m.mid] for m in session.media))


def removed_contents(session: Session, names: Iterable[str]) -> Session:
    gone = set(names)
    unknown = gone - set(mids(session))
    if unknown:
        raise SdpError(f"no content {excerpt(sorted(unknown)[0])} in this session")
    media = tuple(disabled(m) if m.mid in gone else m for m in session.media)
    return without_disabled_in_groups(replace(session, media=media))


# -- writing actions ----------------------------------------------------------------------


def _jingle(action: str, sid: str) -> Element:
    return Element("{" + JINGLE + "}jingle", {"action": action, "sid": sid})


def _stub(parent: Element, name: str, creator: str) -> Element:
    return SubElement(parent, "{" + JINGLE + "}content", {"creator": creator, "name": name})


def content_stubs(action: str, sid: str, names: Iterable[str], creators: dict[str, str]) -> Element:
    """content-remove / content-reject: the contents by name only."""
    jingle = _jingle(action, sid)
    for name in names:
        _stub(jingle, name, creators.get(name, Role.INITIATOR.value))
    return jingle


def content_modify(
    sid: str, media: Iterable[Media], creators: dict[str, str], writer: Role
) -> Element:
    """content-modify: each content's new ``senders`` (XEP-0166 §7.2.8)."""
    jingle = _jingle("content-modify", sid)
    for m in media:
        _stub(jingle, m.mid, creators.get(m.mid, Role.INITIATOR.value)).set(
            "senders", senders_for(m.direction, writer)
        )
    return jingle


def content_session(
    action: str,
    sid: str,
    session: Session,
    names: Iterable[str],
    *,
    creator: str,
    writer: Role,
) -> Element:
    """content-add / content-accept: the named m-lines in full, with the BUNDLE groups."""
    wanted = set(names)
    part = Session(
        media=tuple(m for m in session.media if m.mid in wanted),
        groups=without_disabled_in_groups(session).groups,
    )
    return session_to_jingle(
        part,
        action=action,
        sid=sid,
        initiator=None,
        responder=None,
        creator=creator,
        role=writer,
    )


def transports(
    action: str,
    sid: str,
    media: Iterable[Media],
    creators: dict[str, str],
    *,
    candidates: bool,
    fingerprints: bool = True,
) -> Element:
    """transport-info / transport-replace / transport-accept: one content per m-line with its
    ICE credentials (and fingerprints, and candidates, as asked)."""
    jingle = _jingle(action, sid)
    for m in media:
        shown = m
        if not candidates:
            shown = replace(shown, candidates=(), end_of_candidates=False)
        if not fingerprints:
            shown = replace(shown, fingerprints=(), setup=None)
        _stub(jingle, m.mid, creators.get(m.mid, Role.INITIATOR.value)).append(
            transport_element(shown)
        )
    return jingle
