"""What a module registers to offer an ad-hoc command (XEP-0050): typed, no string dispatch.

A `Command` is a node, a human name, who may run it, zero or more `Stage`s (each a data form the
requester fills in) and a `run` handler. The framework (`AdhocModule`) shows the stages in
order, checks every answer against the form it showed, lets the requester go back and forth
(prev/next), and calls ``run`` once the last stage is completed, or at once when there is no
stage. Handlers read the answers from `CommandContext.answers` with typed accessors and return
`Completed` (notes, optional result form); raising `FormError` anywhere answers
``<bad-request/><bad-payload/>`` and keeps the session where it was, so the requester can fix the
form and submit it again. A failure that is not the requester's fault (no such user, the call
ended meanwhile) is a completed command with an error note (XEP-0050 §4.5).

    commands = server.require(CommandRegistry)
    commands.register(Command(
        node="urn:example:admin#hello",
        name="Say hello",
        stages=(Stage(Form(fields=(Field("who", FieldType.JID_SINGLE, required=True),))),),
        run=hello,                      # async (CommandContext) -> Completed
    ))

A stage's form may also be built per request (``async (CommandContext) -> Form | Completed``),
from the earlier stages' answers; returning `Completed` there ends the command early (e.g.
nothing to choose from). ``check`` runs on a stage's answers before the next stage is shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from xmpp_video.core.server import Server
from xmpp_video.jid import JID
from xmpp_video.modules.adhoc.forms import Form, Submission


class NoteType(StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    type: NoteType = NoteType.INFO


@dataclass(frozen=True, slots=True)
class Completed:
    """The command is over: what to tell the requester, and an optional result form."""

    notes: tuple[Note, ...] = ()
    form: Form | None = None

    @classmethod
    def info(cls, text: str, form: Form | None = None) -> Completed:
        return cls((Note(text),), form)

    @classmethod
    def error(cls, text: str) -> Completed:
        """It ran but failed (XEP-0050 §4.5: at least one error note)."""
        return cls((Note(text, NoteType.ERROR),))


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What a handler knows: the server, who runs the command (full JID), the answers so far
    (all stages merged, a later stage's answer to a field wins) and the session id."""

    server: Server
    requester: JID
    answers: Submission
    session_id: str


FormBuilder = Callable[[CommandContext], Awaitable[Form | Completed]]
Check = Callable[[CommandContext, Submission], Awaitable[None]]
Run = Callable[[CommandContext], Awaitable[Completed]]


@dataclass(frozen=True, slots=True)
class Stage:
    """One step: the form to fill in (fixed, or built per request), and an optional check of
    its answers (raise `FormError`) before the next stage."""

    form: Form | FormBuilder
    check: Check | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """An ad-hoc command. ``admin_only``: only JIDs in ``ADMINS`` see it and may run it."""

    node: str
    name: str
    run: Run
    stages: tuple[Stage, ...] = ()
    admin_only: bool = True


class CommandRegistry:
    """The commands of this server by node, and who may run them (the ``ADMINS`` bare JIDs)."""

    def __init__(self, admins: Iterable[str]) -> None:
        self._admins = frozenset(admins)
        self._commands: dict[str, Command] = {}

    def register(self, command: Command) -> None:
        if command.node in self._commands:
            raise ValueError(f"ad-hoc command {command.node} is registered already")
        self._commands[command.node] = command

    def get(self, node: str) -> Command | None:
        return self._commands.get(node)

    def is_admin(self, requester: JID) -> bool:
        return str(requester.bare) in self._admins

    def may_run(self, command: Command, requester: JID) -> bool:
        return not command.admin_only or self.is_admin(requester)

    def visible_to(self, requester: JID) -> list[Command]:
        """The commands `requester` may run, in registration order."""
        return [c for c in self._commands.values() if self.may_run(c, requester)]

    def __len__(self) -> int:
        return len(self._commands)
