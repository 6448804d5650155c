"""XEP-0050 ad-hoc commands and the XEP-0133 user commands, driven by slixmpp's own plugins.

The admin is ``admin@localhost`` (``ADMINS``); ``mallory@localhost`` is a user who is not.
Real sockets, real TLS, SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from slixmpp.exceptions import IqError

from tests.interop.adhoc import (
    ADMIN,
    CALL_NODES,
    COMMANDS,
    XEP_0133_NODES,
    command_error,
    expect_error,
    register_plugins,
    run_command,
    run_single_stage,
)
from tests.interop.slix import TIMEOUT, Client, connected
from tests.server_fixtures import PASSWORD, RunningServer, make_settings, running_server
from xmpp_video.config import Settings
from xmpp_video.core.events import AccountDeleted
from xmpp_video.modules.adhoc import (
    AdhocModule,
    Command,
    CommandContext,
    CommandRegistry,
    Completed,
    Field,
    FieldType,
    Form,
    FormError,
    Option,
    Stage,
    Submission,
)

pytestmark = pytest.mark.asyncio
ADD_USER = f"{ADMIN}#add-user"
SESSION_TIMEOUT = 0.5


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        admins="admin@localhost",
        adhoc_session_timeout=SESSION_TIMEOUT,
    )


@pytest_asyncio.fixture
async def admin_server(xmpp_server: RunningServer) -> RunningServer:
    for user in ("admin", "mallory", "bob"):
        await xmpp_server.add_user(user)
    return xmpp_server


@asynccontextmanager
async def as_user(
    server: RunningServer, jid: str, password: str = PASSWORD, **kwargs: Any
) -> AsyncIterator[Client]:
    async with connected(server, jid, password, **kwargs) as client:
        register_plugins(client)
        yield client


async def _command_nodes(client: Client) -> list[str]:
    items = await client.plugin["xep_0050"].get_commands("localhost", timeout=TIMEOUT)
    for item in items["disco_items"]["items"]:
        assert item[0] == "localhost"  # a command is the server's own (XEP-0050 §7)
    return [item[1] for item in items["disco_items"]["items"]]


async def _stream_error(client: Client) -> list[str]:
    await asyncio.wait_for(client.disconnected_event.wait(), TIMEOUT)
    return client.stream_errors


# -- discovery and who may run what ------------------------------------------------------------


async def test_admin_sees_every_command_and_its_node_info(admin_server: RunningServer) -> None:
    async with as_user(admin_server, "admin@localhost") as admin:
        info = await admin.plugin["xep_0030"].get_info("localhost", timeout=TIMEOUT)
        assert COMMANDS in info["disco_info"]["features"]
        assert sorted(await _command_nodes(admin)) == sorted(XEP_0133_NODES + CALL_NODES)
        node_info = await admin.plugin["xep_0030"].get_info(
            "localhost", node=ADD_USER, timeout=TIMEOUT
        )
        identities = node_info["disco_info"]["identities"]
        assert ("automation", "command-node", None, "Add a User") in identities
        assert {COMMANDS, "jabber:x:data"} <= set(node_info["disco_info"]["features"])
        listing = await admin.plugin["xep_0030"].get_info(
            "localhost", node=COMMANDS, timeout=TIMEOUT
        )
        assert ("automation", "command-list", None, "Commands") in listing["disco_info"][
            "identities"
        ]


async def test_non_admin_sees_no_admin_command_and_is_forbidden(
    admin_server: RunningServer,
) -> None:
    async with as_user(admin_server, "mallory@localhost") as mallory:
        assert await _command_nodes(mallory) == []
        with pytest.raises(IqError) as info:
            await mallory.plugin["xep_0030"].get_info("localhost", node=ADD_USER, timeout=TIMEOUT)
        assert command_error(info.value).condition == "forbidden"
        for node in XEP_0133_NODES + CALL_NODES:
            error = await expect_error(mallory, node)
            assert (error.type, error.condition) == ("cancel", "forbidden"), node
    assert await admin_server.server.storage.users.count("localhost") == 3


async def test_unknown_command_and_bad_requests(admin_server: RunningServer) -> None:
    async with as_user(admin_server, "admin@localhost") as admin:
        assert (await expect_error(admin, f"{ADMIN}#shutdown")).condition == "item-not-found"
        error = await expect_error(admin, ADD_USER, action="jump")
        assert (error.condition, error.specific) == ("bad-request", "malformed-action")
        error = await expect_error(admin, ADD_USER, action="complete")  # no sessionid
        assert (error.condition, error.specific) == ("bad-request", "bad-sessionid")
        error = await expect_error(admin, ADD_USER, action="next", sessionid="never-issued")
        assert error.condition == "item-not-found"
        first = await run_command(admin, ADD_USER)
        error = await expect_error(
            admin, f"{ADMIN}#delete-user", action="complete", sessionid=first.sessionid
        )
        assert (error.condition, error.specific) == ("bad-request", "bad-sessionid")
        for action in ("next", "prev"):  # one stage: neither is offered
            error = await expect_error(admin, ADD_USER, action=action, sessionid=first.sessionid)
            assert (error.condition, error.specific) == ("bad-request", "bad-action"), action
        error = await expect_error(admin, ADD_USER, action="complete", sessionid=first.sessionid)
        assert (error.condition, error.specific) == ("bad-request", "bad-payload")  # no form
        # another requester cannot continue (or even see) this session
        async with as_user(admin_server, "admin@localhost") as other_device:
            error = await expect_error(
                other_device,
                ADD_USER,
                action="complete",
                sessionid=first.sessionid,
                values={"accountjid": "x@localhost", "password": "pw"},
            )
            assert error.condition == "item-not-found"
        done = await run_command(
            admin,
            ADD_USER,
            action="complete",
            sessionid=first.sessionid,
            values={"accountjid": "x@localhost", "password": "pw"},
        )
        assert done.status == "completed"


# -- the XEP-0050 session machinery --------------------------------------------------------


async def test_cancel_ends_the_session(admin_server: RunningServer) -> None:
    async with as_user(admin_server, "admin@localhost") as admin:
        first = await run_command(admin, ADD_USER)
        assert first.status == "executing"
        assert (first.actions, first.default_action) == ({"complete"}, "complete")
        assert {"accountjid", "password"} <= first.required
        canceled = await run_command(admin, ADD_USER, action="cancel", sessionid=first.sessionid)
        assert (canceled.status, canceled.sessionid) == ("canceled", first.sessionid)
        error = await expect_error(
            admin,
            ADD_USER,
            action="complete",
            sessionid=first.sessionid,
            values={"accountjid": "carol@localhost", "password": "pw"},
        )
        assert (error.type, error.condition, error.specific) == (
            "cancel",
            "not-allowed",
            "session-expired",
        )
    assert not await admin_server.server.accounts.exists("carol")


async def test_abandoned_session_expires(admin_server: RunningServer) -> None:
    """ADHOC_SESSION_TIMEOUT (0.5 s here): a session left alone longer is over."""
    async with as_user(admin_server, "admin@localhost") as admin:
        kept = await run_command(admin, ADD_USER)
        left = await run_command(admin, ADD_USER)
        for _ in range(3):  # a requester who keeps going keeps the session alive
            await asyncio.sleep(SESSION_TIMEOUT * 0.6)
            error = await expect_error(admin, ADD_USER, action="complete", sessionid=kept.sessionid)
            assert error.specific == "bad-payload"
        error = await expect_error(
            admin,
            ADD_USER,
            action="complete",
            sessionid=left.sessionid,
            values={"accountjid": "carol@localhost", "password": "pw"},
        )
        assert (error.condition, error.specific) == ("not-allowed", "session-expired")
        adhoc = next(m for m in admin_server.app.modules if isinstance(m, AdhocModule))
        assert len(adhoc.sessions) == 1  # the expired one is gone
    assert not await admin_server.server.accounts.exists("carol")


async def test_slixmpp_workflow_api(admin_server: RunningServer) -> None:
    """start_command / complete_command, as a slixmpp-based admin tool drives a command."""
    async with as_user(admin_server, "admin@localhost") as admin:
        adhoc = admin.plugin["xep_0050"]
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def form_received(iq: Any, session: dict[str, Any]) -> None:
            form = admin.plugin["xep_0004"].make_form(ftype="submit")
            form.add_field(var="accountjid", value="dave@localhost")
            form.add_field(var="password", value="pw for dave")
            session["payload"] = form
            session["next"] = lambda result, _s: done.set_result(result)
            adhoc.complete_command(session)

        session = {
            "next": form_received,
            "error": lambda iq, _s: done.set_exception(AssertionError(iq)),
        }
        adhoc.start_command("localhost", ADD_USER, session)
        result = await asyncio.wait_for(done, TIMEOUT)
        assert result["command"]["status"] == "completed"
    assert await admin_server.server.accounts.check_password("dave", "pw for dave")


# -- XEP-0133 ----------------------------------------------------------------------------------


async def test_add_user_checks_its_form(admin_server: RunningServer) -> None:
    async with as_user(admin_server, "admin@localhost") as admin:
        first = await run_command(admin, ADD_USER)
        for values, needle in (
            ({"accountjid": "not a jid", "password": "pw"}, "not a valid JID"),
            ({"accountjid": "carol@elsewhere.example", "password": "pw"}, "not an account of"),
            ({"accountjid": "carol@localhost/phone", "password": "pw"}, "not an account JID"),
            ({"accountjid": "carol@localhost"}, "required"),
            ({"accountjid": "carol@localhost", "password": "a", "password-verify": "b"}, "differ"),
            ({"accountjid": ["a@localhost", "b@localhost"], "password": "pw"}, "one value"),
        ):
            error = await expect_error(
                admin, ADD_USER, action="complete", sessionid=first.sessionid, values=values
            )
            assert (error.type, error.condition, error.specific) == (
                "modify",
                "bad-request",
                "bad-payload",
            ), values
            assert needle in error.text, (values, error.text)
        # the session survived every refusal: the fixed form completes it
        done = await run_command(
            admin,
            ADD_USER,
            action="complete",
            sessionid=first.sessionid,
            values={"accountjid": "Carol@LOCALHOST", "password": "pw", "password-verify": "pw"},
        )
        assert done.notes == [("info", "User carol@localhost created.")]
        again = await run_single_stage(
            admin, ADD_USER, {"accountjid": "carol@localhost", "password": "x"}
        )
        assert again.status == "completed"
        assert again.notes[0][0] == "error"
        assert "already exists" in again.notes[0][1]
    async with as_user(admin_server, "carol@localhost", "pw") as carol:
        assert carol.boundjid.bare == "carol@localhost"


async def test_change_password_and_delete_user(admin_server: RunningServer) -> None:
    server = admin_server.server
    deleted: list[str] = []  # what the modules keeping per-account memory (push, PEP) hear

    async def on_deleted(event: AccountDeleted) -> None:
        deleted.append(event.bare)

    server.hooks.on(AccountDeleted, on_deleted)
    async with as_user(admin_server, "admin@localhost") as admin:
        done = await run_single_stage(
            admin,
            f"{ADMIN}#change-user-password",
            {"accountjid": "bob@localhost", "password": "new secret"},
        )
        assert done.notes == [("info", "Password of bob@localhost changed.")]
        assert await server.accounts.check_password("bob", "new secret")
        assert not await server.accounts.check_password("bob", PASSWORD)
        missing = await run_single_stage(
            admin,
            f"{ADMIN}#change-user-password",
            {"accountjid": "nobody@localhost", "password": "x"},
        )
        assert missing.notes == [("error", "no such user nobody@localhost")]

        async with as_user(admin_server, "bob@localhost", "new secret") as bob:
            done = await run_single_stage(
                admin,
                f"{ADMIN}#delete-user",
                {"accountjids": ["bob@localhost", "nobody@localhost"]},
            )
            assert done.status == "completed"
            assert ("info", "User bob@localhost deleted (1 session(s) closed).") in done.notes
            assert ("error", "no such user nobody@localhost") in done.notes
            assert await _stream_error(bob) == ["not-authorized"]
        assert not await server.accounts.exists("bob")
    assert deleted == ["bob@localhost"]


async def test_user_counts_lists_and_last_login(admin_server: RunningServer) -> None:
    async with (
        as_user(admin_server, "admin@localhost") as admin,
        as_user(admin_server, "bob@localhost/phone") as _phone,
        as_user(admin_server, "bob@localhost/laptop") as _laptop,
    ):
        online = await run_command(admin, f"{ADMIN}#get-online-users-num")
        assert online.status == "completed"
        assert (online.form_type, online.fields["onlineusersnum"]) == ("result", "2")
        registered = await run_command(admin, f"{ADMIN}#get-registered-users-num")
        assert registered.fields["registeredusersnum"] == "3"

        form = await run_command(admin, f"{ADMIN}#get-online-users-list")
        assert form.field_types["max_items"] == "list-single"
        assert "none" in form.options["max_items"]
        listed = await run_command(
            admin,
            f"{ADMIN}#get-online-users-list",
            action="complete",
            sessionid=form.sessionid,
            values={"max_items": "none"},
        )
        assert listed.fields["onlineuserjids"] == ["admin@localhost", "bob@localhost"]
        one = await run_single_stage(
            admin, f"{ADMIN}#get-registered-users-list", {"max_items": "25"}
        )
        assert one.fields["registereduserjids"] == [
            "admin@localhost",
            "bob@localhost",
            "mallory@localhost",
        ]
        form = await run_command(admin, f"{ADMIN}#get-registered-users-list")
        error = await expect_error(
            admin,
            f"{ADMIN}#get-registered-users-list",
            action="complete",
            sessionid=form.sessionid,
            values={"max_items": "7"},
        )
        assert error.specific == "bad-payload"
        assert "not one of the options" in error.text

        async with asyncio.timeout(5):  # last logins are written behind (session_store)
            while True:
                last = await run_single_stage(
                    admin,
                    f"{ADMIN}#get-user-lastlogin",
                    {"accountjids": ["bob@localhost", "mallory@localhost", "ghost@localhost"]},
                )
                if last.fields["lastlogin"][0] != "never":
                    break
                await asyncio.sleep(0.1)
        assert last.fields["accountjids"] == [
            "bob@localhost",
            "mallory@localhost",
            "ghost@localhost",
        ]
        bob_time, mallory_time, ghost_time = last.fields["lastlogin"]
        assert bob_time.endswith("Z")
        assert bob_time[:4].isdigit()
        assert (mallory_time, ghost_time) == ("never", "unknown")
        assert last.notes == [("error", "no such user ghost@localhost")]


async def test_end_user_session_closes_the_streams(admin_server: RunningServer) -> None:
    node = f"{ADMIN}#end-user-session"
    async with (
        as_user(admin_server, "admin@localhost") as admin,
        as_user(admin_server, "bob@localhost/phone") as phone,
        as_user(admin_server, "bob@localhost/laptop") as laptop,
        as_user(admin_server, "mallory@localhost/desk") as mallory,
    ):
        done = await run_single_stage(admin, node, {"accountjids": ["bob@localhost/phone"]})
        assert done.notes == [("info", "1 session(s) ended.")]
        assert await _stream_error(phone) == ["policy-violation"]
        assert not laptop.disconnected_event.is_set()
        done = await run_single_stage(
            admin, node, {"accountjids": ["bob@localhost", "mallory@localhost", "nobody@localhost"]}
        )
        assert done.notes[0] == ("info", "2 session(s) ended.")
        assert ("warn", "nobody@localhost has no session on this server.") in done.notes
        assert await _stream_error(laptop) == ["policy-violation"]
        assert await _stream_error(mallory) == ["policy-violation"]
        form = await run_command(admin, node)
        error = await expect_error(
            admin,
            node,
            action="complete",
            sessionid=form.sessionid,
            values={"accountjids": ["bob@elsewhere.example"]},
        )
        assert error.specific == "bad-payload"


async def test_announce_reaches_every_online_user(admin_server: RunningServer) -> None:
    async with (
        as_user(admin_server, "admin@localhost") as admin,
        as_user(admin_server, "bob@localhost/phone") as phone,
        as_user(admin_server, "mallory@localhost") as mallory,
    ):
        form = await run_command(admin, f"{ADMIN}#announce")
        assert form.field_types["announcement"] == "text-multi"
        error = await expect_error(
            admin,
            f"{ADMIN}#announce",
            action="complete",
            sessionid=form.sessionid,
            values={"announcement": [" ", ""]},
        )
        assert (error.specific, "required" in error.text) == ("bad-payload", True)
        done = await run_command(
            admin,
            f"{ADMIN}#announce",
            action="complete",
            sessionid=form.sessionid,
            values={"announcement": ["Maintenance at noon.", "", "Sorry!"]},
        )
        assert done.notes == [("info", "Announcement sent to 3 session(s) of 3 user(s).")]
        for client in (phone, mallory, admin):
            message = await client.next_message()
            assert message["type"] == "headline"
            assert str(message["from"]) == "localhost"
            assert message["body"] == "Maintenance at noon.\n\nSorry!"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_no_admins_configured_means_nobody(tmp_path: Path, database_url: str) -> None:
    async with running_server(make_settings(tmp_path, database_url)) as server:
        jid = await server.add_user("admin")
        async with as_user(server, jid) as admin:
            assert await _command_nodes(admin) == []
            assert (await expect_error(admin, ADD_USER)).condition == "forbidden"


# -- the typed registration API, as another module uses it ------------------------------------


async def test_a_module_registers_its_own_multi_stage_command(
    admin_server: RunningServer,
) -> None:
    """Three stages: a checked form, a form built from the first answers (or the end, early),
    then `run`. Not admin-only: every user sees and runs it."""

    async def check_name(context: CommandContext, answers: Submission) -> None:
        if answers.text("name") == "nobody":
            raise FormError("name: nobody is not a name")

    async def colour_form(context: CommandContext) -> Form | Completed:
        name = context.answers.text("name")
        if name == "stop":
            return Completed.info("stopped early")
        return Form(
            title=f"Hello {name}",
            fields=(
                Field("colour", FieldType.LIST_SINGLE, options=(Option("red"), Option("blue"))),
            ),
        )

    async def run(context: CommandContext) -> Completed:
        answers = context.answers
        return Completed.info(
            f"{answers.text('name')} likes {answers.text('colour')},"
            f" {answers.integer('age', minimum=0, maximum=150)} years,"
            f" asked by {context.requester.bare}"
        )

    registry = admin_server.server.require(CommandRegistry)
    node = "urn:example:test#greet"
    registry.register(
        Command(
            node,
            "Greet",
            run,
            (
                Stage(Form(fields=(Field("name", required=True),)), check=check_name),
                Stage(colour_form),
                Stage(Form(fields=(Field("age"),))),
            ),
            admin_only=False,
        )
    )
    async with as_user(admin_server, "mallory@localhost") as mallory:
        assert await _command_nodes(mallory) == [node]
        first = await run_command(mallory, node)
        error = await expect_error(
            mallory, node, action="next", sessionid=first.sessionid, values={"name": "nobody"}
        )
        assert (error.specific, error.text) == ("bad-payload", "name: nobody is not a name")
        second = await run_command(
            mallory, node, action="next", sessionid=first.sessionid, values={"name": "Ann"}
        )
        assert (second.actions, second.default_action) == ({"prev", "next"}, "next")
        assert second.options["colour"] == ["red", "blue"]
        third = await run_command(
            mallory, node, action="next", sessionid=first.sessionid, values={"colour": "blue"}
        )
        assert (third.actions, third.default_action) == ({"prev", "complete"}, "complete")
        error = await expect_error(
            mallory, node, action="complete", sessionid=first.sessionid, values={"age": "old"}
        )
        assert error.text == "age must be a whole number, not 'old'"  # raised in run: resubmit
        done = await run_command(
            mallory, node, action="complete", sessionid=first.sessionid, values={"age": "30"}
        )
        assert done.notes == [("info", "Ann likes blue, 30 years, asked by mallory@localhost")]

        early = await run_command(mallory, node)
        stopped = await run_command(
            mallory, node, action="next", sessionid=early.sessionid, values={"name": "stop"}
        )
        assert (stopped.status, stopped.notes) == ("completed", [("info", "stopped early")])
