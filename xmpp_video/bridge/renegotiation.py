"""Renegotiation and ICE restart of one call, for a JSON device (SPEC §5). Pure: no I/O.

A JSON client speaks whole SDP offers and answers; Jingle speaks changes. `Negotiation` keeps
the session's current descriptions — the JSON client's (``local``) and the other party's
(``remote``) — turns a new ``sdp_offer`` into the Jingle actions of what it changes, turns the
other party's actions into a full ``sdp_offer`` for the JSON client, and merges every reply
into a full SDP answer.

The JSON client's new offer, by what it changes → the Jingle sent → the reply awaited:

- ICE credentials (an ICE restart) → ``transport-info`` with the new ufrag/pwd and no
  candidates (then one with the candidates, once acknowledged) → a ``transport-info`` with the
  other party's new credentials (or a ``transport-accept``);
- an added m-line → ``content-add`` → ``content-accept`` / ``content-reject``;
- an m-line disabled (port 0) → ``content-remove`` → the iq result;
- an m-line's direction → ``content-modify`` (``senders``) → the iq result;
- nothing → nothing: the answer comes at once.

Then the JSON client gets the whole answer (``sdp_answer``), a refused content as port 0. An
iq error to any of these ends the renegotiation: an ``error`` ``not_allowed`` carrying the
offer's ``ref`` tells the client to roll its offer back. An offer that only changes other
things (codecs, sources) sends nothing and is answered with the current description.

The other party's action → the JSON client's ``sdp_offer`` (the whole session) → what its
``sdp_answer`` becomes:

- ``transport-info`` with new credentials (an ICE restart) → ``transport-info`` with the JSON
  client's new credentials and candidates;
- ``transport-replace`` → ``transport-accept``;
- ``content-add`` → ``content-accept`` (an m-line with a port) and/or ``content-reject``
  (port 0);
- ``content-modify`` / ``content-remove`` → nothing more (the iq result was the agreement).

ICE restart — what real clients do. XEP-0176 describes a restart as ``transport-replace`` /
``transport-accept``, but Conversations (the Jingle RTP client most users have; its
``JingleRtpConnection``) restarts ICE with a ``transport-info`` whose transports carry *new*
ufrag/pwd and *no* candidates (the offer, acknowledged by the iq result); the answering side
then trickles its candidates in ``transport-info`` under its own new credentials, and the first
of those is the answer. A ``transport-info`` with unknown credentials and candidates is read as
that answer. Dino (libnice) has no ICE restart that we could find. So this module sends the
Conversations form, and understands both forms when it receives them (a ``transport-replace``
is answered with ``transport-accept``). COMPAT(Conversations): when the JSON client's answer to
a restart has no candidates yet (a trickling browser), nothing is sent until its first
candidate: a transport-info with new credentials and no candidates would read as a new offer.

Offers in SDP use ``a=setup:actpass``; answers the DTLS role the session settled at the start
(a renegotiation never changes it), as Conversations rewrites it too.

One renegotiation at a time: a JSON ``sdp_offer`` while one is pending (either way) is refused
with ``not_allowed``, and so is another Jingle offer (``<unexpected-request/>`` +
``<out-of-order/>``). Malformed SDP, an offer that is not a renegotiation of the current one
(an m-line dropped or changing kind, an ICE restart mixed with other changes) and an answer to
an ICE restart without new credentials get ``bad_request``.

Glare (both parties offer at once): the session's initiator wins, as XEP-0166 says — the
responder's offer is refused with ``<conflict/>`` + ``<tie-break/>``; when the JSON device is
the responder, its pending offer is dropped (an ``error`` ``not_allowed`` that carries the
offer's ``ref`` tells it to roll back) and it gets the initiator's offer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from xml.etree.ElementTree import Element

from xmpp_video.bridge import sdp_changes as changes
from xmpp_video.bridge.sdp_jingle import jingle_to_session, other
from xmpp_video.bridge.sdp_model import Media, Origin, Role, SdpError, Session, Setup, excerpt
from xmpp_video.bridge.sdp_text import parse_sdp, write_sdp

RESTART = "ice-restart"  # the kind of an ICE restart (carried in transport-info)
# seconds a renegotiation may wait for its answer (the other party's, or the JSON client's);
# then it is dropped (`give_up`) so that the call can renegotiate again
ANSWER_TIMEOUT = 30.0
ANSWER_ACTIONS = frozenset({"content-accept", "content-reject", "transport-accept"})
JINGLE_ERRORS = "urn:xmpp:jingle:errors:1"


class Refusal(Exception):
    """Answer the other party's Jingle iq with this error (XEP-0166 §8)."""

    def __init__(self, condition: str, specific: str | None, text: str) -> None:
        super().__init__(text)
        self.condition = condition  # an RFC 6120 stanza error condition
        self.specific = specific  # a urn:xmpp:jingle:errors:1 condition
        self.text = text


class Refused(Exception):
    """Refuse the JSON client's message with ``not_allowed``."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """A ``<jingle/>`` to send in an iq set; ``tracked``: tell `Negotiation.acked` /
    `Negotiation.failed` its iq id (via `Negotiation.track`)."""

    action: str
    jingle: Element
    tracked: bool = False


class Tell(StrEnum):
    """The JSON messages a renegotiation produces (SPEC §5 names)."""

    SDP_OFFER = "sdp_offer"
    SDP_ANSWER = "sdp_answer"
    ERROR = "error"  # not_allowed


@dataclass(frozen=True, slots=True)
class ToClient:
    """A message for the JSON client: ``sdp_offer`` / ``sdp_answer`` (``sdp``), or an
    ``error`` ``not_allowed`` (``message``, with the ``ref`` of the offer it concerns)."""

    type: Tell
    sdp: str = ""
    message: str = ""
    ref: object = None


@dataclass(slots=True)
class Step:
    send: list[Outbound] = field(default_factory=list)
    tell: list[ToClient] = field(default_factory=list)


@dataclass(slots=True)
class _Outgoing:
    """The JSON client's offer, waiting for the other party."""

    offer: Session
    ref: object
    found: changes.Changes
    waiting: set[str]  # tracked iq ids without a result yet, and "content-add" until answered
    restart_answer: Session | None = None  # the remote description after a restart answer
    accepted: dict[str, Media] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    follow_up: list[Outbound] = field(default_factory=list)  # once the offer is acknowledged


@dataclass(slots=True)
class _Incoming:
    """The other party's offer, waiting for the JSON client's answer."""

    kind: str
    offer: Session  # the full remote description offered (as the JSON client got it)
    names: tuple[str, ...]


@dataclass(slots=True)
class Negotiation:
    """The descriptions of one call as this JSON device sees them. ``role``: the device's
    Jingle role. Create it at session-initiate; `local` / `remote` are set by the first
    offer/answer (`started`)."""

    sid: str
    role: Role
    local: Session | None = None
    remote: Session | None = None
    peer_setup: Setup = Setup.ACTIVE
    creators: dict[str, str] = field(default_factory=dict)
    version: int = 2
    _outgoing: _Outgoing | None = None
    _incoming: _Incoming | None = None
    _tracked: set[str] = field(default_factory=set)
    attempt: int = 0  # counts renegotiations: `give_up` names the one it expires

    # -- the first offer/answer ------------------------------------------------------------

    def first_local(self, sdp: str) -> None:
        """The JSON client's first offer or answer (already sent as session-*)."""
        self.local = parse_sdp(sdp)
        if self.role is Role.INITIATOR:
            self.creators = {m.mid: Role.INITIATOR.value for m in self.local.media}
        else:
            ours = next((m.setup for m in self.local.media if m.setup is not None), None)
            self.peer_setup = Setup.ACTIVE if ours is Setup.PASSIVE else Setup.PASSIVE

    def first_remote(self, jingle: Element) -> None:
        """The other party's session-initiate or session-accept."""
        self.remote = jingle_to_session(jingle, role=other(self.role))
        if self.role is Role.RESPONDER:
            self.creators = {m.mid: Role.INITIATOR.value for m in self.remote.media}
        else:
            theirs = next((m.setup for m in self.remote.media if m.setup is not None), None)
            self.peer_setup = Setup.PASSIVE if theirs is Setup.PASSIVE else Setup.ACTIVE

    @property
    def started(self) -> bool:
        return self.local is not None and self.remote is not None

    @property
    def busy(self) -> bool:
        return self._outgoing is not None or self._incoming is not None

    @property
    def answer_expected(self) -> bool:
        """The JSON client was given an offer it has not answered."""
        return self._incoming is not None

    def mids(self) -> tuple[str, ...]:
        """The session's mids in m-line order (for candidate indexes)."""
        view = self._remote_view() or self._local_view()
        return () if view is None else changes.mids(view)

    def local_credentials(self, mid: str) -> tuple[str | None, str | None]:
        """The JSON client's current ufrag/pwd for a content (for its trickled candidates)."""
        view = self._local_view()
        media = None if view is None else changes.by_mid(view).get(mid)
        return (None, None) if media is None else (media.ufrag, media.pwd)

    def _local_view(self) -> Session | None:
        return self._outgoing.offer if self._outgoing is not None else self.local

    def _remote_view(self) -> Session | None:
        return self._incoming.offer if self._incoming is not None else self.remote

    def _established(self) -> tuple[Session, Session]:
        if self.local is None or self.remote is None:
            raise Refused("the session is not set up yet: wait for the answer")
        return self.local, self.remote

    def _write(self, session: Session, setup: Setup) -> str:
        session = changes.fill_transports(changes.with_setup(session, setup))
        remote = self.remote
        base = remote.origin if remote is not None and remote.origin is not None else None
        if base is None:  # the origin jingle_to_sdp gave the first description
            digest = hashlib.blake2s(self.sid.encode(), digest_size=8).digest()
            base = Origin("-", str(int.from_bytes(digest, "big") >> 2), "2")
        known = int(base.session_version) if base.session_version.isdigit() else 0
        self.version = max(self.version, known) + 1  # o= versions only go up (RFC 3264 §8)
        origin = Origin(base.username, base.session_id, str(self.version))
        return write_sdp(replace(session, origin=origin))

    def track(self, iq_id: str) -> None:
        """The iq id of a `tracked` outbound just sent."""
        self._tracked.add(iq_id)
        if self._outgoing is not None:
            self._outgoing.waiting.add(iq_id)

    # -- the JSON client offers ------------------------------------------------------------

    def client_offer(self, sdp: str, ref: object) -> Step:
        """A new ``sdp_offer`` in the established session. Raises `Refused`, `SdpError`."""
        local, remote = self._established()
        if self.busy:
            raise Refused("a renegotiation is already under way: wait for its answer")
        offer = parse_sdp(sdp)
        found = changes.classify(local, offer)
        step = Step()
        if found.none:
            self.local = offer
            answer = self._answer_for(offer, remote)
            step.tell.append(ToClient(Tell.SDP_ANSWER, self._write(answer, self.peer_setup)))
            return step
        outgoing = _Outgoing(offer, ref, found, set())
        offered = changes.by_mid(offer)
        if found.ice_restart:
            live = [m for m in offer.media if m.port != 0]
            step.send.append(
                Outbound(
                    "transport-info",
                    changes.transports(
                        "transport-info", self.sid, live, self.creators, candidates=False
                    ),
                    tracked=True,
                )
            )
            if any(m.candidates for m in live):
                outgoing.follow_up.append(
                    Outbound(
                        "transport-info",
                        changes.transports(
                            "transport-info",
                            self.sid,
                            [m for m in live if m.candidates],
                            self.creators,
                            candidates=True,
                            fingerprints=False,
                        ),
                    )
                )
        if found.added:
            for mid in found.added:
                self.creators[mid] = self.role.value
            step.send.append(
                Outbound(
                    "content-add",
                    changes.content_session(
                        "content-add",
                        self.sid,
                        offer,
                        found.added,
                        creator=self.role.value,
                        writer=self.role,
                    ),
                    tracked=True,  # an iq error ends the renegotiation too
                )
            )
            outgoing.waiting.add("content-add")
        if found.modified:
            media = [offered[mid] for mid in found.modified]
            step.send.append(
                Outbound(
                    "content-modify",
                    changes.content_modify(self.sid, media, self.creators, self.role),
                    tracked=True,
                )
            )
        if found.removed:
            step.send.append(
                Outbound(
                    "content-remove",
                    changes.content_stubs("content-remove", self.sid, found.removed, self.creators),
                    tracked=True,
                )
            )
        self._outgoing = outgoing
        self.attempt += 1
        return step

    def give_up(self, attempt: int) -> Step:
        """`ANSWER_TIMEOUT` passed since renegotiation `attempt` began: if it is still pending,
        drop it. The JSON client's own offer is refused (an ``error`` with its ``ref``: roll
        back); an offer of the other party it never answered is forgotten (that party has its
        own timeout). Then new renegotiations are possible again."""
        step = Step()
        if attempt != self.attempt:
            return step
        outgoing, self._outgoing = self._outgoing, None
        self._incoming = None
        if outgoing is not None:
            step.tell.append(
                ToClient(
                    Tell.ERROR,
                    message="the other party did not answer the renegotiation: roll back the offer",
                    ref=outgoing.ref,
                )
            )
        return step

    def acked(self, iq_id: str) -> Step:
        """The iq result for a tracked outbound."""
        self._tracked.discard(iq_id)
        outgoing = self._outgoing
        step = Step()
        if outgoing is None or iq_id not in outgoing.waiting:
            return step
        outgoing.waiting.discard(iq_id)
        step.send += outgoing.follow_up
        outgoing.follow_up = []
        return self._maybe_done(step)

    def is_tracked(self, iq_id: str) -> bool:
        return iq_id in self._tracked

    def failed(self, iq_id: str, condition: str) -> Step:
        """The iq error for a tracked outbound: the renegotiation is over, the JSON client
        must roll back its offer."""
        self._tracked.discard(iq_id)
        outgoing = self._outgoing
        step = Step()
        if outgoing is None or iq_id not in outgoing.waiting:
            return step
        self._outgoing = None
        why = "the other party refused the renegotiation"
        if condition == "tie-break":
            why = "the other party renegotiated at the same time"
        step.tell.append(
            ToClient(
                Tell.ERROR, message=f"{why} ({condition}): roll back the offer", ref=outgoing.ref
            )
        )
        return step

    def _maybe_done(self, step: Step) -> Step:
        outgoing = self._outgoing
        assert outgoing is not None
        if outgoing.waiting or (outgoing.found.ice_restart and outgoing.restart_answer is None):
            return step
        _, remote = self._established()
        if outgoing.restart_answer is not None:
            remote = outgoing.restart_answer
        answer = self._answer_for(outgoing.offer, remote, outgoing)
        self.local = outgoing.offer
        self.remote = changes.without_disabled_in_groups(answer)
        self._outgoing = None
        step.tell.append(ToClient(Tell.SDP_ANSWER, self._write(answer, self.peer_setup)))
        return step

    def _answer_for(
        self, offer: Session, remote: Session, outgoing: _Outgoing | None = None
    ) -> Session:
        """The other party's answer to `offer`, from its current description and the replies
        to each change: the offer's m-lines in order."""
        theirs = changes.by_mid(remote)
        found = outgoing.found if outgoing is not None else changes.Changes()
        media: list[Media] = []
        for m in offer.media:
            if outgoing is not None and m.mid in outgoing.accepted:
                media.append(outgoing.accepted[m.mid])
            elif m.mid in found.added or m.mid not in theirs:
                refused = changes.disabled(m)  # their transport, not ours (fill_transports)
                media.append(replace(refused, ufrag=None, pwd=None, fingerprints=(), setup=None))
            elif m.port == 0:
                media.append(changes.disabled(theirs[m.mid]))
            elif m.mid in found.modified:
                media.append(replace(theirs[m.mid], direction=changes.reverse(m.direction)))
            else:
                media.append(theirs[m.mid])
        answer = replace(remote, media=tuple(media))
        bundle = [g for g in offer.groups if g.semantics == changes.BUNDLE]
        if bundle:
            others = [g for g in remote.groups if g.semantics != changes.BUNDLE]
            answer = replace(answer, groups=tuple(bundle + others))
        return changes.without_disabled_in_groups(answer)

    # -- the other party acts --------------------------------------------------------------

    def peer_action(self, action: str, jingle: Element) -> Step | None:
        """A Jingle action from the other party in the established session; None when it is
        none of ours to handle (a plain transport-info: trickled candidates). Raises
        `Refusal`, `SdpError`."""
        if action == "transport-info":
            return self._transport_info(jingle)
        if action in ANSWER_ACTIONS:
            return self._answer(action, jingle)
        if action in ("transport-replace", "content-add", "content-modify", "content-remove"):
            return self._offer(action, jingle)
        return None

    def _transport_info(self, jingle: Element) -> Step | None:
        credentials = changes.transport_credentials(jingle)
        view = self._remote_view()
        if credentials is None or view is None or self.local is None:
            return None
        if credentials in {(m.ufrag, m.pwd) for m in view.media}:
            return None
        outgoing = self._outgoing
        if outgoing is not None and outgoing.found.ice_restart:
            _, remote = self._established()
            outgoing.restart_answer, _ = changes.apply_transports(remote, jingle)
            return self._maybe_done(Step())
        return self._offer(RESTART, jingle)

    def _answer(self, action: str, jingle: Element) -> Step:
        outgoing = self._outgoing
        if outgoing is None:
            raise Refusal("unexpected-request", "out-of-order", f"no offer awaits a {action}")
        if action == "transport-accept":
            if not outgoing.found.ice_restart:
                raise Refusal("unexpected-request", "out-of-order", "no transport to accept")
            _, remote = self._established()
            outgoing.restart_answer, _ = changes.apply_transports(remote, jingle)
            return self._maybe_done(Step())
        if "content-add" not in outgoing.waiting:
            raise Refusal("unexpected-request", "out-of-order", f"no content-add awaits {action}")
        names = changes.content_names(jingle)
        unknown = [n for n in names if n not in outgoing.found.added]
        if unknown:
            raise SdpError(f"{action} names content {excerpt(unknown[0])} that was not added")
        if action == "content-accept":
            accepted = jingle_to_session(jingle, role=other(self.role))
            outgoing.accepted.update(changes.by_mid(accepted))
        else:
            outgoing.rejected.update(names)
        if set(outgoing.accepted) | outgoing.rejected >= set(outgoing.found.added):
            outgoing.waiting.discard("content-add")
        return self._maybe_done(Step())

    def _offer(self, kind: str, jingle: Element) -> Step:
        _, remote = self._established()
        step = Step()
        if self._incoming is not None:
            raise Refusal(
                "unexpected-request", "out-of-order", "the previous offer is not answered yet"
            )
        if self._outgoing is not None:
            if self.role is Role.INITIATOR:
                raise Refusal("conflict", "tie-break", "our own renegotiation is under way")
            dropped = self._outgoing
            self._outgoing = None
            step.tell.append(
                ToClient(
                    Tell.ERROR,
                    message="the other party renegotiated at the same time: roll back the"
                    " offer and answer theirs",
                    ref=dropped.ref,
                )
            )
        sender = other(self.role)
        if kind in (RESTART, "transport-replace"):
            offer, names = changes.apply_transports(remote, jingle)
        elif kind == "content-add":
            added = jingle_to_session(jingle, role=sender)
            names = changes.mids(added)
            clash = [n for n in names if n in changes.by_mid(remote)]
            if clash:
                raise SdpError(f"content {excerpt(clash[0])} already exists")
            offer = replace(
                remote,
                media=remote.media + added.media,
                groups=added.groups or changes.bundled(remote.groups, names),
            )
            for content in changes.contents(jingle):
                self.creators[changes.content_name(content)] = content.get("creator", sender.value)
        elif kind == "content-modify":
            names = changes.content_names(jingle)
            offer = changes.modified_directions(remote, jingle, sender)
        else:
            names = changes.content_names(jingle)
            offer = changes.removed_contents(remote, names)
        offer = changes.fill_transports(offer)
        self._incoming = _Incoming(kind, offer, names)
        self.attempt += 1
        step.tell.append(ToClient(Tell.SDP_OFFER, self._write(offer, Setup.ACTPASS)))
        return step

    # -- the JSON client answers -----------------------------------------------------------

    def client_answer(self, sdp: str) -> Step:
        """The JSON client's ``sdp_answer`` to an offer from the other party. Raises
        `Refused`, `SdpError`."""
        incoming = self._incoming
        if incoming is None:
            raise Refused("there is no offer to answer")
        answer = parse_sdp(sdp)
        if changes.mids(answer) != changes.mids(incoming.offer):
            raise SdpError("the answer must have the offer's m-lines, in the offer's order")
        ours = changes.by_mid(answer)
        step = Step()
        remote = incoming.offer
        if incoming.kind == "content-add":
            taken = [n for n in incoming.names if ours[n].port != 0]
            refused = [n for n in incoming.names if ours[n].port == 0]
            if taken:
                step.send.append(
                    Outbound(
                        "content-accept",
                        changes.content_session(
                            "content-accept",
                            self.sid,
                            answer,
                            taken,
                            creator=other(self.role).value,
                            writer=self.role,
                        ),
                    )
                )
            if refused:
                step.send.append(
                    Outbound(
                        "content-reject",
                        changes.content_stubs("content-reject", self.sid, refused, self.creators),
                    )
                )
                gone = set(refused)
                remote = replace(
                    remote,
                    media=tuple(changes.disabled(m) if m.mid in gone else m for m in remote.media),
                )
        elif incoming.kind in (RESTART, "transport-replace"):
            live = [m for m in answer.media if m.port != 0]
            before = {(m.ufrag, m.pwd) for m in self.local.media} if self.local else set()
            if any((m.ufrag, m.pwd) in before for m in live):
                raise SdpError("the answer to an ICE restart needs new ICE credentials")
            action = (
                "transport-accept" if incoming.kind == "transport-replace" else "transport-info"
            )
            if action == "transport-accept" or any(m.candidates for m in live):
                step.send.append(
                    Outbound(
                        action,
                        changes.transports(action, self.sid, live, self.creators, candidates=True),
                    )
                )
        self.local = answer
        self.remote = changes.without_disabled_in_groups(
            changes.with_setup(remote, self.peer_setup)
        )
        self._incoming = None
        return step
