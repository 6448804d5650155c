"""XEP-0133 Service Administration: the user commands, for the JIDs listed in ``ADMINS``.

| node (``http://jabber.org/protocol/admin#…``) | form fields → result                          |
|-----------------------------------------------|-----------------------------------------------|
| ``add-user``                                  | accountjid, password, password-verify         |
| ``delete-user``                               | accountjids → account, roster, offline        |
|                                               | messages and archive deleted, sessions closed |
|                                               | (``<not-authorized/>``), refresh tokens revoked|
| ``change-user-password``                      | accountjid, password (refresh tokens revoked) |
| ``end-user-session``                          | accountjids (bare: every resource; full: that |
|                                               | one) → closed with ``<policy-violation/>``    |
| ``get-online-users-num``                      | → onlineusersnum                              |
| ``get-online-users-list``                     | max_items → onlineuserjids                    |
| ``get-registered-users-num``                  | → registeredusersnum                          |
| ``get-registered-users-list``                 | max_items → registereduserjids                |
| ``get-user-lastlogin``                        | accountjids → accountjids, lastlogin (one     |
|                                               | XEP-0082 time per account, or ``never``)      |
| ``announce``                                  | announcement → a ``headline`` message from the|
|                                               | domain to every connected resource            |

A form value the command cannot use (a JID of another domain or with a resource where an account
is meant, passwords that differ) is ``<bad-request/><bad-payload/>``; an account that does not
exist (or already does) completes the command with an error note. "Online" means connected to
this node (the session registry). XEP-0133's optional add-user fields (email, names) are not
offered: nothing would keep them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.accounts import AccountError
from xmpp_video.core.events import AccountDeleted
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.jid import JID
from xmpp_video.modules.adhoc import (
    Command,
    CommandContext,
    CommandRegistry,
    Completed,
    Field,
    FieldType,
    Form,
    FormError,
    Note,
    NoteType,
    Option,
    Stage,
)
from xmpp_video.modules.adhoc.forms import format_datetime, result_form
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition

log = logging.getLogger(__name__)

ADMIN: Final = "http://jabber.org/protocol/admin"
FORM_TYPE: Final = Field("FORM_TYPE", FieldType.HIDDEN, values=(ADMIN,))
MAX_ITEMS_CHOICES: Final = ("25", "50", "75", "100", "150", "200", "none")
ENDED_BY_ADMIN: Final = "your session was ended by an administrator"
ACCOUNT_DELETED: Final = "your account was deleted"


def _form(title: str, instructions: str, *fields: Field) -> Form:
    return Form(title=title, instructions=instructions, fields=(FORM_TYPE, *fields))


def _accountjid(label: str) -> Field:
    return Field("accountjid", FieldType.JID_SINGLE, label, required=True)


def _accountjids(label: str) -> Field:
    return Field("accountjids", FieldType.JID_MULTI, label, required=True)


def _password(var: str, label: str, *, required: bool) -> Field:
    return Field(var, FieldType.TEXT_PRIVATE, label, required=required)


MAX_ITEMS: Final = Field(
    "max_items",
    FieldType.LIST_SINGLE,
    "Maximum number of items to show",
    values=("100",),
    options=tuple(Option(v, "None" if v == "none" else v) for v in MAX_ITEMS_CHOICES),
)


class UserAdminModule:
    name = "admin_users"

    def setup(self, server: Server) -> None:
        self.server = server
        commands = server.require(CommandRegistry)
        for command in (
            Command(
                f"{ADMIN}#add-user",
                "Add a User",
                self.add_user,
                (
                    Stage(
                        _form(
                            "Adding a User",
                            "Fill out this form to add a user.",
                            _accountjid("The Jabber ID for the account to be added"),
                            _password("password", "The password for this account", required=True),
                            _password("password-verify", "Retype password", required=False),
                        )
                    ),
                ),
            ),
            Command(
                f"{ADMIN}#delete-user",
                "Delete a User",
                self.delete_user,
                (
                    Stage(
                        _form(
                            "Deleting a User",
                            "Fill out this form to delete a user.",
                            _accountjids("The Jabber ID(s) to delete"),
                        )
                    ),
                ),
            ),
            Command(
                f"{ADMIN}#change-user-password",
                "Change User Password",
                self.change_password,
                (
                    Stage(
                        _form(
                            "Changing a User Password",
                            "Fill out this form to change a user's password.",
                            _accountjid("The Jabber ID for this account"),
                            _password("password", "The password for this account", required=True),
                        )
                    ),
                ),
            ),
            Command(
                f"{ADMIN}#end-user-session",
                "End User Session",
                self.end_session,
                (
                    Stage(
                        _form(
                            "Ending a User Session",
                            "Fill out this form to end a user's session (a bare JID ends all of"
                            " them).",
                            _accountjids("The Jabber ID(s) for which to end sessions"),
                        )
                    ),
                ),
            ),
            Command(f"{ADMIN}#get-online-users-num", "Get Number of Online Users", self.online_num),
            Command(
                f"{ADMIN}#get-online-users-list",
                "Get List of Online Users",
                self.online_list,
                (
                    Stage(
                        _form(
                            "Requesting List of Online Users",
                            "Fill out this form to request the online users of this service.",
                            MAX_ITEMS,
                        )
                    ),
                ),
            ),
            Command(
                f"{ADMIN}#get-registered-users-num",
                "Get Number of Registered Users",
                self.registered_num,
            ),
            Command(
                f"{ADMIN}#get-registered-users-list",
                "Get List of Registered Users",
                self.registered_list,
                (
                    Stage(
                        _form(
                            "Requesting List of Registered Users",
                            "Fill out this form to request the registered users of this service.",
                            MAX_ITEMS,
                        )
                    ),
                ),
            ),
            Command(
                f"{ADMIN}#get-user-lastlogin",
                "Get User Last Login Time",
                self.last_login,
                (
                    Stage(
                        _form(
                            "Getting a User's Last Login Time",
                            "Fill out this form to get a user's last login time.",
                            _accountjids(
                                "The Jabber ID(s) for which to retrieve the last login time"
                            ),
                        )
                    ),
                ),
            ),
            Command(
                f"{ADMIN}#announce",
                "Send Announcement to Online Users",
                self.announce,
                (
                    Stage(
                        _form(
                            "Making an Announcement",
                            "Fill out this form to make an announcement to all online users of"
                            " this service.",
                            Field(
                                "announcement", FieldType.TEXT_MULTI, "Announcement", required=True
                            ),
                        )
                    ),
                ),
            ),
        ):
            commands.register(command)

    def stop(self) -> None:
        return None

    # -- helpers ---------------------------------------------------------------------------

    def _account(self, jid: JID | None, var: str) -> JID:
        """`jid` as an account of this server, or FormError."""
        if jid is None:
            raise FormError(f"{var} is required")
        if jid.local is None or jid.resource is not None:
            raise FormError(f"{var}: {jid} is not an account JID (user@{self.server.domain})")
        if jid.domain != self.server.domain:
            raise FormError(f"{var}: {jid} is not an account of {self.server.domain}")
        return jid

    def _accounts(self, context: CommandContext, var: str) -> list[JID]:
        jids = [self._account(jid, var) for jid in context.answers.jids(var)]
        if not jids:
            raise FormError(f"{var} is required")
        return list(dict.fromkeys(jids))

    def _online(self) -> list[str]:
        return sorted({session.bare for session in self.server.registry})

    @staticmethod
    def _max_items(context: CommandContext) -> int | None:
        choice = context.answers.text("max_items")
        return None if choice in ("", "none") else int(choice)

    def _close(
        self, sessions: Sequence[Session], condition: StreamErrorCondition, text: str
    ) -> int:
        for session in sessions:
            session.close(condition, text)
        return len(sessions)

    # -- commands --------------------------------------------------------------------------

    async def add_user(self, context: CommandContext) -> Completed:
        jid = self._account(context.answers.jid("accountjid"), "accountjid")
        password = context.answers.secret("password")
        verify = context.answers.values.get("password-verify", ())
        if verify and verify[0] != password:
            raise FormError("password-verify: the passwords differ")
        try:
            await self.server.accounts.add(jid, password)
        except AccountError as exc:
            return Completed.error(str(exc))
        log.info("admin %s added user %s", context.requester.bare, jid)
        return Completed.info(f"User {jid} created.")

    async def delete_user(self, context: CommandContext) -> Completed:
        notes: list[Note] = []
        for jid in self._accounts(context, "accountjids"):
            try:
                await self.server.accounts.delete(jid)
            except AccountError as exc:
                notes.append(Note(str(exc), NoteType.ERROR))
                continue
            assert jid.local is not None
            await self.server.storage.refresh_tokens.revoke_user(jid.local)
            await self.server.hooks.fire(AccountDeleted(str(jid)))
            closed = self._close(
                self.server.registry.resources(str(jid)),
                StreamErrorCondition.NOT_AUTHORIZED,
                ACCOUNT_DELETED,
            )
            log.info("admin %s deleted user %s", context.requester.bare, jid)
            notes.append(Note(f"User {jid} deleted ({closed} session(s) closed)."))
        return Completed(tuple(notes))

    async def change_password(self, context: CommandContext) -> Completed:
        jid = self._account(context.answers.jid("accountjid"), "accountjid")
        try:
            await self.server.accounts.set_password(jid, context.answers.secret("password"))
        except AccountError as exc:
            return Completed.error(str(exc))
        assert jid.local is not None
        await self.server.storage.refresh_tokens.revoke_user(jid.local)
        log.info("admin %s changed the password of %s", context.requester.bare, jid)
        return Completed.info(f"Password of {jid} changed.")

    async def end_session(self, context: CommandContext) -> Completed:
        notes: list[Note] = []
        total = 0
        for jid in context.answers.jids("accountjids"):
            if jid.local is None or jid.domain != self.server.domain:
                raise FormError(f"accountjids: {jid} is not a user of {self.server.domain}")
            if jid.resource is None:
                sessions = self.server.registry.resources(str(jid))
            else:
                one = self.server.registry.get(str(jid))
                sessions = [] if one is None else [one]
            if not sessions:
                notes.append(Note(f"{jid} has no session on this server.", NoteType.WARN))
                continue
            total += self._close(sessions, StreamErrorCondition.POLICY_VIOLATION, ENDED_BY_ADMIN)
        log.info("admin %s ended %d session(s)", context.requester.bare, total)
        return Completed((Note(f"{total} session(s) ended."), *notes))

    async def online_num(self, context: CommandContext) -> Completed:
        count = len(self._online())
        return Completed(
            form=result_form(
                "Number of Online Users",
                Field("onlineusersnum", label="The number of online users", values=(str(count),)),
                form_type=ADMIN,
            )
        )

    async def online_list(self, context: CommandContext) -> Completed:
        users = self._online()[: self._max_items(context)]
        return Completed(
            form=result_form(
                "List of Online Users",
                Field(
                    "onlineuserjids",
                    FieldType.JID_MULTI,
                    "The list of all online users",
                    values=tuple(users),
                ),
                form_type=ADMIN,
            )
        )

    async def registered_num(self, context: CommandContext) -> Completed:
        count = await self.server.storage.users.count(self.server.domain)
        return Completed(
            form=result_form(
                "Number of Registered Users",
                Field(
                    "registeredusersnum",
                    label="The number of registered users",
                    values=(str(count),),
                ),
                form_type=ADMIN,
            )
        )

    async def registered_list(self, context: CommandContext) -> Completed:
        users = (await self.server.storage.users.list(self.server.domain))[
            : self._max_items(context)
        ]
        return Completed(
            form=result_form(
                "List of Registered Users",
                Field(
                    "registereduserjids",
                    FieldType.JID_MULTI,
                    "The list of all registered users",
                    values=tuple(users),
                ),
                form_type=ADMIN,
            )
        )

    async def last_login(self, context: CommandContext) -> Completed:
        jids = self._accounts(context, "accountjids")
        times: list[str] = []
        notes: list[Note] = []
        users = self.server.storage.users
        for jid in jids:
            assert jid.local is not None
            when = await users.last_login(jid.local, jid.domain)
            if when is not None:
                times.append(format_datetime(when))
            elif await users.exists(jid.local, jid.domain):
                times.append("never")
            else:
                times.append("unknown")
                notes.append(Note(f"no such user {jid}", NoteType.ERROR))
        return Completed(
            tuple(notes),
            result_form(
                "Last Login Time",
                Field("accountjids", FieldType.JID_MULTI, values=tuple(str(j) for j in jids)),
                Field("lastlogin", FieldType.TEXT_MULTI, "Last login", values=tuple(times)),
                form_type=ADMIN,
            ),
        )

    async def announce(self, context: CommandContext) -> Completed:
        text = "\n".join(context.answers.lines("announcement")).strip()
        sessions = list(self.server.registry)
        for session in sessions:
            message = Element(
                f"{{{ns.CLIENT}}}message",
                {"type": "headline", "from": self.server.domain, "to": session.full},
            )
            SubElement(message, f"{{{ns.CLIENT}}}body").text = text
            session.deliver(message)
        users = len({session.bare for session in sessions})
        log.info("admin %s announced to %d session(s)", context.requester.bare, len(sessions))
        return Completed.info(
            f"Announcement sent to {len(sessions)} session(s) of {users} user(s)."
        )
