"""Command sessions: expiry, ended sessions, one requester's sessions only, bounded memory."""

from __future__ import annotations

import pytest

from xmpp_video.jid import JID
from xmpp_video.modules.adhoc.command import Command, CommandContext, CommandRegistry, Completed
from xmpp_video.modules.adhoc.sessions import ENDED, MAX_PER_REQUESTER, CommandSession, Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _run(context: CommandContext) -> Completed:
    return Completed()


COMMAND = Command("urn:test#c", "C", _run)
ME = "admin@localhost/a"


def _open(clock: Clock, timeout: float = 10.0) -> tuple[Sessions, CommandSession]:
    sessions = Sessions(timeout, clock)
    return sessions, sessions.open(COMMAND, ME)


def test_a_session_lives_while_used_and_expires_when_left() -> None:
    clock = Clock()
    sessions, session = _open(clock)
    clock.now += 9
    assert sessions.find(session.id, ME) is session
    sessions.touch(session)
    clock.now += 9
    assert sessions.find(session.id, ME) is session  # touched: 9 s since
    clock.now += 10
    assert sessions.find(session.id, ME) is ENDED
    assert len(sessions) == 0
    clock.now += 11  # remembered for another timeout, then forgotten
    sessions.sweep()
    assert sessions.find(session.id, ME) is None


def test_ended_sessions_are_told_apart_from_unknown_ones() -> None:
    clock = Clock()
    sessions, session = _open(clock)
    assert sessions.find("never-issued", ME) is None
    assert sessions.find(session.id, "admin@localhost/other") is None  # not theirs
    sessions.end(session)
    assert sessions.find(session.id, ME) is ENDED
    assert sessions.find(session.id, "admin@localhost/other") is None


def test_sweep_ends_what_was_left_alone() -> None:
    clock = Clock()
    sessions, old = _open(clock)
    clock.now += 5
    new = sessions.open(COMMAND, ME)
    clock.now += 6
    sessions.sweep()
    assert len(sessions) == 1
    assert sessions.find(old.id, ME) is ENDED
    assert sessions.find(new.id, ME) is new


def test_a_requester_keeps_a_bounded_number_of_sessions() -> None:
    clock = Clock()
    sessions = Sessions(10, clock)
    opened = [sessions.open(COMMAND, ME) for _ in range(MAX_PER_REQUESTER + 3)]
    other = sessions.open(COMMAND, "someone@localhost/x")
    assert len(sessions) == MAX_PER_REQUESTER + 1
    assert [sessions.find(s.id, ME) for s in opened[:3]] == [ENDED] * 3  # the oldest went
    assert sessions.find(opened[-1].id, ME) is opened[-1]
    assert sessions.find(other.id, "someone@localhost/x") is other


def test_drop_requester() -> None:
    clock = Clock()
    sessions, session = _open(clock)
    other = sessions.open(COMMAND, "admin@localhost/b")
    sessions.drop_requester(ME)
    assert sessions.find(session.id, ME) is ENDED
    assert sessions.find(other.id, "admin@localhost/b") is other


def test_registry_shows_admin_commands_to_admins_only() -> None:
    registry = CommandRegistry({"admin@localhost"})
    public = Command("urn:test#public", "P", _run, admin_only=False)
    registry.register(COMMAND)
    registry.register(public)
    admin = JID.parse("Admin@localhost/phone")
    user = JID.parse("user@localhost/phone")
    assert registry.visible_to(admin) == [COMMAND, public]
    assert registry.visible_to(user) == [public]
    assert not registry.may_run(COMMAND, user)
    with pytest.raises(ValueError, match="registered already"):
        registry.register(Command("urn:test#c", "again", _run))
