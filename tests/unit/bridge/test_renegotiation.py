"""Renegotiation between two JSON devices, without a server: two `Negotiation` objects (the
bridge of each device) wired back to back by what they send each other in Jingle."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.bridge.sdp_strategies import sessions
from xmpp_video.bridge.renegotiation import Negotiation, Outbound, Refusal, Refused, Step, ToClient
from xmpp_video.bridge.sdp import sdp_to_jingle
from xmpp_video.bridge.sdp_changes import Changes, classify, reverse
from xmpp_video.bridge.sdp_model import Direction, Role, SdpError, Session
from xmpp_video.bridge.sdp_text import parse_sdp, write_sdp

GOLDEN = Path(__file__).parent / "golden"
OFFER = (GOLDEN / "aiortc-offer.sdp").read_text()
ANSWER = (GOLDEN / "aiortc-answer.sdp").read_text()
SID = "call-1"


def _text(session: Session) -> str:
    return write_sdp(session)


def _rewrite(sdp: str, **changes: object) -> str:
    return _text(replace(parse_sdp(sdp), **changes))  # type: ignore[arg-type]


def _media(sdp: str, index: int, **changes: object) -> str:
    session = parse_sdp(sdp)
    media = list(session.media)
    media[index] = replace(media[index], **changes)  # type: ignore[arg-type]
    return _text(replace(session, media=tuple(media)))


def _credentials(sdp: str, ufrag: str, pwd: str) -> str:
    session = parse_sdp(sdp)
    media = tuple(replace(m, ufrag=ufrag, pwd=pwd) for m in session.media)
    return _text(replace(session, media=media))


def _audio_only(sdp: str) -> str:
    session = parse_sdp(sdp)
    groups = tuple(replace(g, mids=("0",)) for g in session.groups)
    return _text(replace(session, media=session.media[:1], groups=groups))


class Wire:
    """alice (the initiator) and bob, each a JSON device behind its own bridge."""

    def __init__(self, offer: str = OFFER, answer: str = ANSWER) -> None:
        self.alice = Negotiation(SID, Role.INITIATOR)
        self.bob = Negotiation(SID, Role.RESPONDER)
        self.alice.first_local(offer)
        self.bob.first_remote(sdp_to_jingle(offer, action="session-initiate", sid=SID))
        self.bob.first_local(answer)
        self.alice.first_remote(sdp_to_jingle(answer, action="session-accept", sid=SID))
        self.told: dict[int, list[ToClient]] = {id(self.alice): [], id(self.bob): []}
        self.sent: list[str] = []  # the actions, in order
        self.refusals: list[Refusal] = []
        self._ids = itertools.count()

    def other(self, side: Negotiation) -> Negotiation:
        return self.bob if side is self.alice else self.alice

    def run(self, side: Negotiation, step: Step) -> None:
        """What a bridge does with a step (session.py's order: the iq is tracked, the peer
        handles it, the result comes back, then the peer's own step runs)."""
        peer = self.other(side)
        for outbound in step.send:
            self._deliver(side, peer, outbound)
        self.told[id(side)] += step.tell

    def _deliver(self, side: Negotiation, peer: Negotiation, outbound: Outbound) -> None:
        iq_id = f"iq-{next(self._ids)}"
        self.sent.append(outbound.action)
        if outbound.tracked:
            side.track(iq_id)
        try:
            reply = peer.peer_action(outbound.action, outbound.jingle)
        except Refusal as refusal:
            self.refusals.append(refusal)
            if side.is_tracked(iq_id):
                self.run(side, side.failed(iq_id, refusal.specific or refusal.condition))
            return
        if side.is_tracked(iq_id):
            self.run(side, side.acked(iq_id))
        if reply is not None:
            self.run(peer, reply)

    def last(self, side: Negotiation, type_: str) -> ToClient:
        messages = [m for m in self.told[id(side)] if m.type == type_]
        assert messages, f"nothing of type {type_}: {self.told[id(side)]}"
        return messages[-1]


def _kinds(sdp: str) -> list[tuple[str, int]]:
    return [(m.kind, m.port) for m in parse_sdp(sdp).media]


def _directions(sdp: str) -> list[Direction]:
    return [m.direction for m in parse_sdp(sdp).media]


# -- what an offer changes ----------------------------------------------------------------


def test_classify() -> None:
    current = parse_sdp(OFFER)
    assert classify(current, current).none
    restarted = parse_sdp(_credentials(OFFER, "newU", "newPasswordNewPassword1"))
    assert classify(current, restarted) == Changes(ice_restart=True)
    removed = parse_sdp(_media(OFFER, 1, port=0))
    assert classify(current, removed) == Changes(removed=("1",))
    modified = parse_sdp(_media(OFFER, 1, direction=Direction.RECVONLY))
    assert classify(current, modified) == Changes(modified=("1",))
    added = classify(parse_sdp(_audio_only(OFFER)), current)
    assert added == Changes(added=("1",))
    with pytest.raises(SdpError, match="one at a time"):
        classify(parse_sdp(_audio_only(OFFER)), restarted)
    with pytest.raises(SdpError, match="port 0"):
        classify(current, parse_sdp(_audio_only(OFFER)))
    with pytest.raises(SdpError, match="changes from"):
        classify(current, parse_sdp(_media(OFFER, 1, kind="audio")))
    with pytest.raises(SdpError, match="add a new one"):
        classify(removed, current)


@settings(max_examples=50, deadline=None)
@given(sessions())
def test_an_unchanged_offer_changes_nothing(session: Session) -> None:
    assert classify(session, session).none


# -- both ways through Jingle -------------------------------------------------------------


def test_ice_restart_crosses_both_bridges() -> None:
    wire = Wire()
    offer = _credentials(OFFER, "aliceNew", "alicePasswordAlicePasswordX")
    wire.run(wire.alice, wire.alice.client_offer(offer, "r1"))
    assert wire.sent[:2] == ["transport-info", "transport-info"]  # offer, then candidates
    got = parse_sdp(wire.last(wire.bob, "sdp_offer").sdp)
    assert {(m.ufrag, m.setup) for m in got.media} == {("aliceNew", "actpass")}

    answer = _credentials(ANSWER, "bobNew", "bobPasswordBobPasswordBobXX")
    wire.run(wire.bob, wire.bob.client_answer(answer))
    final = parse_sdp(wire.last(wire.alice, "sdp_answer").sdp)
    assert {(m.ufrag, m.setup) for m in final.media} == {("bobNew", "active")}
    assert all(m.candidates for m in final.media[:1])
    assert not wire.alice.busy
    assert not wire.bob.busy
    assert wire.alice.local_credentials("0") == ("aliceNew", "alicePasswordAlicePasswordX")


def test_a_restart_answer_must_change_the_credentials() -> None:
    wire = Wire()
    offer = _credentials(OFFER, "aliceNew", "alicePasswordAlicePasswordX")
    wire.run(wire.alice, wire.alice.client_offer(offer, "r1"))
    with pytest.raises(SdpError, match="new ICE credentials"):
        wire.bob.client_answer(ANSWER)


def test_content_add_accepted_and_rejected() -> None:
    for refuse in (False, True):
        wire = Wire(_audio_only(OFFER), _audio_only(ANSWER))
        wire.run(wire.alice, wire.alice.client_offer(OFFER, "add"))
        assert wire.sent == ["content-add"]
        assert _kinds(wire.last(wire.bob, "sdp_offer").sdp) == [("audio", 9), ("video", 9)]
        answer = _media(ANSWER, 1, port=0) if refuse else ANSWER
        wire.run(wire.bob, wire.bob.client_answer(answer))
        assert wire.sent[-1] == ("content-reject" if refuse else "content-accept")
        final = parse_sdp(wire.last(wire.alice, "sdp_answer").sdp)
        assert [(m.kind, m.port) for m in final.media] == [
            ("audio", 9),
            ("video", 0 if refuse else 9),
        ]
        assert final.groups[0].mids == (("0",) if refuse else ("0", "1"))
        assert all(m.ufrag and m.pwd for m in final.media)  # aiortc wants them everywhere


def test_content_modify_and_remove_are_agreed_by_the_result() -> None:
    wire = Wire()
    held = _media(OFFER, 1, direction=Direction.SENDONLY)
    wire.run(wire.alice, wire.alice.client_offer(held, "hold"))
    assert wire.sent == ["content-modify"]
    assert _directions(wire.last(wire.alice, "sdp_answer").sdp)[1] is Direction.RECVONLY
    assert _directions(wire.last(wire.bob, "sdp_offer").sdp)[1] is Direction.SENDONLY
    wire.run(wire.bob, wire.bob.client_answer(_media(ANSWER, 1, direction=Direction.RECVONLY)))
    assert wire.sent == ["content-modify"]  # nothing more to say

    removed = _media(held, 1, port=0)
    wire.run(wire.alice, wire.alice.client_offer(removed, "remove"))
    assert wire.sent[-1] == "content-remove"
    assert _kinds(wire.last(wire.alice, "sdp_answer").sdp)[1] == ("video", 0)
    assert _kinds(wire.last(wire.bob, "sdp_offer").sdp)[1] == ("video", 0)


def test_one_renegotiation_at_a_time_and_glare() -> None:
    wire = Wire()
    restart = _credentials(OFFER, "aliceNew", "alicePasswordAlicePasswordX")
    wire.run(wire.alice, wire.alice.client_offer(restart, "r1"))
    with pytest.raises(Refused):
        wire.alice.client_offer(OFFER, "again")
    with pytest.raises(Refused):
        wire.bob.client_offer(ANSWER, "bob")  # bob has an offer to answer first
    with pytest.raises(Refused):
        wire.alice.client_answer(ANSWER)

    # glare: bob (the responder) offers while alice's offer is out: alice refuses it
    glare = Wire()
    held = _media(ANSWER, 1, direction=Direction.SENDONLY)
    bob_step = glare.bob.client_offer(held, "b")
    glare.alice.client_offer(_media(OFFER, 0, direction=Direction.SENDONLY), "a")
    glare.run(glare.bob, bob_step)
    assert [(r.condition, r.specific) for r in glare.refusals] == [("conflict", "tie-break")]
    error = glare.last(glare.bob, "error")
    assert error.ref == "b"
    assert "same time" in error.message


def test_an_unanswered_renegotiation_is_given_up_and_the_call_can_renegotiate_again() -> None:
    wire = Wire(_audio_only(OFFER), _audio_only(ANSWER))
    wire.run(wire.alice, wire.alice.client_offer(OFFER, "add"))  # bob's client never answers
    alice_attempt, bob_attempt = wire.alice.attempt, wire.bob.attempt
    assert wire.alice.busy
    assert wire.bob.answer_expected
    with pytest.raises(Refused):
        wire.alice.client_offer(OFFER, "again")

    assert wire.alice.give_up(alice_attempt - 1).tell == []  # an older attempt: nothing
    gave_up = wire.alice.give_up(alice_attempt)
    assert [(m.type, m.ref) for m in gave_up.tell] == [("error", "add")]
    assert "roll back" in gave_up.tell[0].message
    assert wire.bob.give_up(bob_attempt).tell == []  # its client is just not asked any more
    assert not wire.alice.busy
    assert not wire.bob.busy

    wire.run(wire.alice, wire.alice.client_offer(OFFER, "add again"))
    wire.run(wire.bob, wire.bob.client_answer(ANSWER))
    final = parse_sdp(wire.last(wire.alice, "sdp_answer").sdp)
    assert [(m.kind, m.port) for m in final.media] == [("audio", 9), ("video", 9)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(list(Direction)), min_size=2, max_size=2),
    st.lists(st.booleans(), min_size=2, max_size=2),
    st.booleans(),
)
def test_every_change_gets_an_answer_shaped_like_its_offer(
    directions: list[Direction], off: list[bool], from_bob: bool
) -> None:
    """Whatever mix of direction changes and removals either side offers, its device gets one
    answer with the offer's m-lines in order, a port 0 exactly where it disabled one, ICE
    credentials everywhere and a settled DTLS role; and the other device gets the offer."""
    wire = Wire()
    side = wire.bob if from_bob else wire.alice
    session = parse_sdp(ANSWER if from_bob else OFFER)
    media = tuple(
        replace(m, direction=d, port=0 if o else m.port)
        for m, d, o in zip(session.media, directions, off, strict=True)
    )
    offer = write_sdp(replace(session, media=media))
    wire.run(side, side.client_offer(offer, "x"))
    answer = parse_sdp(wire.last(side, "sdp_answer").sdp)
    assert [m.mid for m in answer.media] == ["0", "1"]
    assert [m.port == 0 for m in answer.media] == off
    assert all(m.ufrag and m.pwd and m.setup in ("active", "passive") for m in answer.media)
    for mine, theirs in zip(media, answer.media, strict=True):
        if mine.port:
            assert theirs.direction is reverse(mine.direction)
    assert not side.busy
