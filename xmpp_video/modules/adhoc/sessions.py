"""Command sessions (XEP-0050 §3.3, "Session Lifetime"): where each running command stands.  [pure]

A session belongs to one requester (full JID) and one command. It lives until the command
completes, is cancelled, or is left alone for ``timeout`` seconds (the ``ADHOC_SESSION_TIMEOUT``
setting): expiry is checked whenever a session is looked up and swept on every command request,
so nothing needs a timer. The ids of ended sessions are remembered for another ``timeout`` so
that their requester is told ``<session-expired/>`` rather than "unknown". Memory is bounded:
at most `MAX_PER_REQUESTER` open sessions per requester (the oldest is dropped) and
`MAX_REMEMBERED` ended ids.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from xmpp_video.modules.adhoc.command import Command
from xmpp_video.modules.adhoc.forms import Form, Submission

MAX_PER_REQUESTER: Final = 16
MAX_REMEMBERED: Final = 1024


@dataclass(slots=True)
class CommandSession:
    """One running command. ``stage``: the index of the stage whose form was shown last;
    ``shown``: that form (answers are checked against it); ``answers``: by stage index."""

    id: str
    command: Command
    requester: str
    expires: float
    stage: int = 0
    shown: Form | None = None
    answers: dict[int, Submission] = field(default_factory=dict)

    def answers_until(self, stage: int) -> Submission:
        merged = Submission()
        for index in range(stage + 1):
            if index in self.answers:
                merged = merged.merged(self.answers[index])
        return merged


@dataclass(frozen=True, slots=True)
class Ended:
    """What `Sessions.find` returns for a session that completed, was cancelled or expired."""


ENDED: Final = Ended()


class Sessions:
    def __init__(self, timeout: float, now: Callable[[], float]) -> None:
        self.timeout = timeout
        self._now = now
        self._open: OrderedDict[str, CommandSession] = OrderedDict()  # oldest first
        self._ended: OrderedDict[str, tuple[str, float]] = OrderedDict()  # id → (requester, until)

    def __len__(self) -> int:
        return len(self._open)

    def open(self, command: Command, requester: str) -> CommandSession:
        mine = [s for s in self._open.values() if s.requester == requester]
        for old in mine[: max(0, len(mine) - MAX_PER_REQUESTER + 1)]:
            self.end(old)
        session_id = secrets.token_urlsafe(12)
        session = CommandSession(session_id, command, requester, self._now() + self.timeout)
        self._open[session_id] = session
        return session

    def find(self, session_id: str, requester: str) -> CommandSession | Ended | None:
        """The open session of `requester` with this id; `ENDED` when it was theirs and has
        ended or expired; None when there is no such session (or it is someone else's)."""
        session = self._open.get(session_id)
        if session is not None and session.requester == requester:
            if session.expires > self._now():
                return session
            self.end(session)
        ended = self._ended.get(session_id)
        if ended is not None and ended[0] == requester and ended[1] > self._now():
            return ENDED
        return None

    def touch(self, session: CommandSession) -> None:
        """The requester is still at it: the session lives another ``timeout``."""
        session.expires = self._now() + self.timeout
        self._open.move_to_end(session.id)

    def end(self, session: CommandSession) -> None:
        if self._open.pop(session.id, None) is None:
            return
        self._ended[session.id] = (session.requester, self._now() + self.timeout)
        while len(self._ended) > MAX_REMEMBERED:
            self._ended.popitem(last=False)

    def drop_requester(self, requester: str) -> None:
        """The requester's stream ended: its sessions cannot be continued (another stream gets
        another full JID), so they go now."""
        for session in [s for s in self._open.values() if s.requester == requester]:
            self.end(session)

    def sweep(self) -> None:
        """End the sessions left alone for too long, forget old ended ids."""
        now = self._now()
        for session in [s for s in self._open.values() if s.expires <= now]:
            self.end(session)
        while self._ended and next(iter(self._ended.values()))[1] <= now:
            self._ended.popitem(last=False)
