"""Ad-hoc commands (XEP-0050) from the test side, over slixmpp's own xep_0050 / xep_0004 plugins.

`run_command` sends one ``<command/>`` with slixmpp's ``send_command`` and returns a `Step`: the
command element as received (status, sessionid, actions, notes) and its data form as a plain
dict. `command_error` tells what an `IqError` carried (defined condition, XEP-0050 specific
condition, text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slixmpp.exceptions import IqError

from tests.interop.slix import TIMEOUT, Client

COMMANDS = "http://jabber.org/protocol/commands"
ADMIN = "http://jabber.org/protocol/admin"
CALLS = "urn:xmpp-video:admin"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

XEP_0133_NODES = tuple(
    f"{ADMIN}#{name}"
    for name in (
        "add-user",
        "delete-user",
        "change-user-password",
        "end-user-session",
        "get-online-users-num",
        "get-online-users-list",
        "get-registered-users-num",
        "get-registered-users-list",
        "get-user-lastlogin",
        "announce",
    )
)
CALL_NODES = (f"{CALLS}#list-calls", f"{CALLS}#end-call", f"{CALLS}#call-stats")

Values = Mapping[str, str | Sequence[str]]


@dataclass
class Step:
    """One answer to a command request."""

    status: str
    sessionid: str
    actions: set[str]
    default_action: str | None
    notes: list[tuple[str, str]]
    form_type: str | None
    fields: dict[str, Any]  # var → value (list for multi-valued fields)
    field_types: dict[str, str]
    options: dict[str, list[str]]
    required: set[str]
    items: list[dict[str, Any]] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)


def _step(iq: Any) -> Step:
    command = iq["command"]
    actions_el = command.xml.find(f"{{{COMMANDS}}}actions")
    form = command.xml.find("{jabber:x:data}x")
    fields: dict[str, Any] = {}
    types: dict[str, str] = {}
    options: dict[str, list[str]] = {}
    required: set[str] = set()
    items: list[dict[str, Any]] = []
    reported: list[str] = []
    if form is not None:
        slix_form = command["form"]
        for var, f in slix_form.get_fields().items():
            fields[var] = f.get_value(convert=False)
            types[var] = f["type"]
            options[var] = [o["value"] for o in f.get_options()]
            if f["required"]:
                required.add(var)
        reported = list(slix_form.get_reported())
        items = [dict(item) for item in slix_form.get_items()]
    return Step(
        status=command["status"],
        sessionid=command["sessionid"],
        actions=set(command["actions"]),
        default_action=None if actions_el is None else actions_el.get("execute"),
        notes=list(command["notes"]),
        form_type=None if form is None else form.get("type"),
        fields=fields,
        field_types=types,
        options=options,
        required=required,
        items=items,
        reported=reported,
    )


def submit(client: Client, values: Values) -> Any:
    """A ``type='submit'`` data form with these values (a sequence for several values)."""
    form = client.plugin["xep_0004"].make_form(ftype="submit")
    for var, value in values.items():
        form.add_field(var=var, value=value if isinstance(value, str) else list(value))
    return form


async def run_command(
    client: Client,
    node: str,
    *,
    action: str = "execute",
    sessionid: str | None = None,
    values: Values | None = None,
    to: str = "localhost",
) -> Step:
    """Send one command request; IqError for an error answer."""
    payload = None if values is None else submit(client, values)
    iq = await client.plugin["xep_0050"].send_command(
        to, node, action=action, payload=payload, sessionid=sessionid, timeout=TIMEOUT
    )
    return _step(iq)


async def run_single_stage(client: Client, node: str, values: Values) -> Step:
    """execute → the form → complete with `values`."""
    first = await run_command(client, node)
    assert first.status == "executing", first
    return await run_command(
        client, node, action="complete", sessionid=first.sessionid, values=values
    )


@dataclass(frozen=True)
class CommandError:
    type: str
    condition: str
    specific: str | None  # the XEP-0050 condition (bad-payload, session-expired…)
    text: str


def command_error(exc: IqError) -> CommandError:
    error = exc.iq.xml.find("{jabber:client}error")
    assert error is not None
    condition = specific = None
    text = ""
    for child in error:
        namespace, _, name = child.tag[1:].partition("}")
        if namespace == STANZAS and name == "text":
            text = child.text or ""
        elif namespace == STANZAS:
            condition = name
        elif namespace == COMMANDS:
            specific = name
    assert condition is not None
    return CommandError(error.get("type", ""), condition, specific, text)


async def expect_error(
    client: Client,
    node: str,
    *,
    action: str = "execute",
    sessionid: str | None = None,
    values: Values | None = None,
) -> CommandError:
    try:
        step = await run_command(client, node, action=action, sessionid=sessionid, values=values)
    except IqError as exc:
        return command_error(exc)
    raise AssertionError(f"expected an error, got {step}")


def register_plugins(client: Client) -> None:
    for plugin in ("xep_0004", "xep_0050"):
        client.register_plugin(plugin)
