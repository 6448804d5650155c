"""XEP-0050 Ad-Hoc Commands: the framework that runs the commands modules register.

Discovery: the server announces ``http://jabber.org/protocol/commands``; disco#items on that node
lists the commands the requester may run (none for a user who is no admin); disco#info on a
command node answers ``automation/command-node`` with the commands and data-forms features, or
``<forbidden/>`` to someone who may not run it.

Execution (``<iq type='set'><command node action sessionid/></iq>`` to the domain):

| request                                   | answer                                          |
|-------------------------------------------|-------------------------------------------------|
| unknown node                              | ``item-not-found``                              |
| requester may not run it                  | ``forbidden``                                   |
| action not one of XEP-0050's five         | ``bad-request`` + ``<malformed-action/>``       |
| execute, no sessionid                     | new session: first stage's form (``executing``),|
|                                           | or ``completed`` for a command without stages   |
| other action without sessionid            | ``bad-request`` + ``<bad-sessionid/>``          |
| sessionid never issued / someone else's   | ``item-not-found``                              |
| sessionid of an ended or expired session  | ``not-allowed`` + ``<session-expired/>``        |
| sessionid of another command node         | ``bad-request`` + ``<bad-sessionid/>``          |
| execute with sessionid                    | the stage's default action (next or complete)   |
| next / prev / complete not offered now    | ``bad-request`` + ``<bad-action/>``             |
| next / complete without a form, or a form | ``bad-request`` + ``<bad-payload/>``, the text  |
|   the stage refuses (required, JID, …)    |   names the field; the session stays as it was  |
| cancel                                    | ``canceled``; the session ends                  |

Every stage offers ``<actions/>``: ``prev`` after the first stage, ``next`` before the last,
``complete`` on the last (the ``execute`` attribute names the default). Sessions expire after
``ADHOC_SESSION_TIMEOUT`` seconds without a request (see sessions.py) and end with the
requester's stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.events import SessionClosed
from xmpp_video.core.iq import IqRequest
from xmpp_video.core.server import NodeInfo, NodeItem, Server
from xmpp_video.jid import JID
from xmpp_video.modules.adhoc.command import CommandContext, CommandRegistry, Completed
from xmpp_video.modules.adhoc.forms import (
    Form,
    FormError,
    Submission,
    find_form,
    form_element,
    parse_submission,
)
from xmpp_video.modules.adhoc.sessions import CommandSession, Ended, Sessions
from xmpp_video.stanza.conditions import StanzaErrorCondition, StanzaErrorType
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.stanza.namespaces import DATA

log = logging.getLogger(__name__)

COMMANDS: Final = "http://jabber.org/protocol/commands"
COMMAND: Final = f"{{{COMMANDS}}}command"


class Action(StrEnum):
    EXECUTE = "execute"
    CANCEL = "cancel"
    PREV = "prev"
    NEXT = "next"
    COMPLETE = "complete"


class Status(StrEnum):
    EXECUTING = "executing"
    COMPLETED = "completed"
    CANCELED = "canceled"


class Specific(StrEnum):
    """XEP-0050 §6 application-specific error conditions."""

    MALFORMED_ACTION = "malformed-action"
    BAD_ACTION = "bad-action"
    BAD_PAYLOAD = "bad-payload"
    BAD_SESSIONID = "bad-sessionid"
    SESSION_EXPIRED = "session-expired"


def _bad(specific: Specific, text: str) -> StanzaError:
    return StanzaError(StanzaErrorCondition.BAD_REQUEST, text, specific=f"{{{COMMANDS}}}{specific}")


def _forbidden() -> StanzaError:
    # XEP-0050 §6 gives forbidden the type cancel (RFC 6120's default would be auth)
    return StanzaError(
        StanzaErrorCondition.FORBIDDEN,
        "only administrators may do this",
        type_=StanzaErrorType.CANCEL,
    )


class AdhocModule:
    name = "adhoc"

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now

    def setup(self, server: Server) -> None:
        self.server = server
        self.registry = CommandRegistry(server.settings.admin_jids)
        self.sessions = Sessions(server.settings.adhoc_session_timeout, self._now)
        server.provide(CommandRegistry, self.registry)
        server.iq.register("set", COMMAND, self.command)
        server.disco.server_features.add(COMMANDS)
        server.disco.nodes.append(self)
        server.hooks.on(SessionClosed, self._session_closed)

    def stop(self) -> None:
        return None

    def _session_closed(self, event: SessionClosed) -> None:
        if len(self.sessions):
            self.sessions.drop_requester(event.session.full)

    # -- discovery -----------------------------------------------------------------------

    def node_info(self, node: str, sender: JID) -> NodeInfo | None:
        if node == COMMANDS:
            return NodeInfo((("automation", "command-list", "Commands"),), frozenset())
        command = self.registry.get(node)
        if command is None:
            return None
        if not self.registry.may_run(command, sender):
            raise _forbidden()
        return NodeInfo(
            (("automation", "command-node", command.name),), frozenset({COMMANDS, DATA})
        )

    def node_items(self, node: str, sender: JID) -> list[NodeItem] | None:
        if node == COMMANDS:
            return [NodeItem(c.node, c.name) for c in self.registry.visible_to(sender)]
        command = self.registry.get(node)
        if command is None:
            return None
        if not self.registry.may_run(command, sender):
            raise _forbidden()
        return []

    # -- execution -----------------------------------------------------------------------

    async def command(self, request: IqRequest) -> Element:
        payload = request.payload
        node = payload.get("node")
        if not node:
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "the command has no node")
        try:
            action = Action(payload.get("action", Action.EXECUTE))
        except ValueError:
            raise _bad(Specific.MALFORMED_ACTION, "unknown action") from None
        command = self.registry.get(node)
        if command is None:
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND, f"no command {node}")
        if not self.registry.may_run(command, request.sender):
            raise _forbidden()
        self.sessions.sweep()
        session_id = payload.get("sessionid")
        if session_id is None:
            if action is not Action.EXECUTE:
                raise _bad(Specific.BAD_SESSIONID, f"{action} needs the sessionid")
            session = self.sessions.open(command, str(request.sender))
            return await self._show(session, request)
        found = self.sessions.find(session_id, str(request.sender))
        if found is None:
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND, "no such command session")
        if isinstance(found, Ended):
            raise StanzaError(
                StanzaErrorCondition.NOT_ALLOWED,
                "this command session is over (completed, canceled or expired)",
                specific=f"{{{COMMANDS}}}{Specific.SESSION_EXPIRED}",
            )
        session = found
        if session.command.node != node:
            raise _bad(Specific.BAD_SESSIONID, "this session runs another command")
        self.sessions.touch(session)
        return await self._continue(session, action, request)

    async def _continue(
        self, session: CommandSession, action: Action, request: IqRequest
    ) -> Element:
        last = len(session.command.stages) - 1
        if action is Action.CANCEL:
            self.sessions.end(session)
            return _reply(session, Status.CANCELED)
        if action is Action.EXECUTE:
            action = Action.NEXT if session.stage < last else Action.COMPLETE
        if action is Action.PREV:
            if session.stage == 0:
                raise _bad(Specific.BAD_ACTION, "this is the first stage")
            return await self._move(session, request, -1)
        if action is Action.NEXT and session.stage >= last:
            raise _bad(Specific.BAD_ACTION, "this is the last stage: complete it")
        if action is Action.COMPLETE and session.stage != last:
            raise _bad(Specific.BAD_ACTION, "there are more stages: go to the next one")
        await self._accept(session, request)
        if action is Action.NEXT:
            return await self._move(session, request, +1)
        return await self._run(session, request)

    async def _move(self, session: CommandSession, request: IqRequest, step: int) -> Element:
        session.stage += step
        try:
            return await self._show(session, request)
        except BaseException:
            session.stage -= step  # the requester stays where they were
            raise

    def _context(
        self, session: CommandSession, request: IqRequest, answers: Submission
    ) -> CommandContext:
        return CommandContext(self.server, request.sender, answers, session.id)

    async def _accept(self, session: CommandSession, request: IqRequest) -> None:
        """Check the submitted form of the current stage and keep its answers."""
        x = find_form(request.payload)
        if x is None or session.shown is None:
            raise _bad(Specific.BAD_PAYLOAD, "submit the stage's data form")
        stage = session.command.stages[session.stage]
        try:
            answers = session.shown.check(parse_submission(x))
            if stage.check is not None:
                before = session.answers_until(session.stage - 1)
                await stage.check(self._context(session, request, before.merged(answers)), answers)
        except FormError as exc:
            raise _bad(Specific.BAD_PAYLOAD, str(exc)) from None
        session.answers[session.stage] = answers

    async def _show(self, session: CommandSession, request: IqRequest) -> Element:
        """The form of the current stage, or the end when the command has no stages."""
        command = session.command
        if not command.stages:
            return await self._run(session, request)
        form = command.stages[session.stage].form
        if not isinstance(form, Form):
            context = self._context(session, request, session.answers_until(session.stage - 1))
            try:
                built = await form(context)
            except FormError as exc:
                raise _bad(Specific.BAD_PAYLOAD, str(exc)) from None
            if isinstance(built, Completed):
                self.sessions.end(session)
                return _reply(session, Status.COMPLETED, completed=built)
            form = built
        previous = session.answers.get(session.stage)
        if previous is not None:
            form = form.prefilled(previous)
        session.shown = form
        return _reply(session, Status.EXECUTING, form=form)

    async def _run(self, session: CommandSession, request: IqRequest) -> Element:
        last = len(session.command.stages) - 1
        context = self._context(session, request, session.answers_until(last))
        try:
            completed = await session.command.run(context)
        except FormError as exc:  # the requester may fix the last form and complete again
            raise _bad(Specific.BAD_PAYLOAD, str(exc)) from None
        except BaseException:
            self.sessions.end(session)
            raise
        self.sessions.end(session)
        log.info("ad-hoc command %s run by %s", session.command.node, request.sender)
        return _reply(session, Status.COMPLETED, completed=completed)


def _reply(
    session: CommandSession,
    status: Status,
    *,
    form: Form | None = None,
    completed: Completed | None = None,
) -> Element:
    """The ``<command/>`` answering a request of `session`."""
    el = Element(
        COMMAND, {"node": session.command.node, "sessionid": session.id, "status": str(status)}
    )
    if status is Status.EXECUTING:
        last = len(session.command.stages) - 1
        default = Action.NEXT if session.stage < last else Action.COMPLETE
        actions = SubElement(el, f"{{{COMMANDS}}}actions", {"execute": str(default)})
        if session.stage > 0:
            SubElement(actions, f"{{{COMMANDS}}}prev")
        SubElement(actions, f"{{{COMMANDS}}}{default}")
    if completed is not None:
        for note in completed.notes:
            SubElement(el, f"{{{COMMANDS}}}note", {"type": str(note.type)}).text = note.text
        form = completed.form
    if form is not None:
        el.append(form_element(form))
    return el
