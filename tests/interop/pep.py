"""slixmpp clients with PEP (XEP-0060/0163, entity caps XEP-0115) for the PEP tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any
from xml.etree.ElementTree import Element

from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0004 import Form

from tests.interop.slix import TIMEOUT, Client, configure, disconnect, go_online
from tests.server_fixtures import PASSWORD, RunningServer
from xmpp_video.storage.repositories import RosterItem, Subscription

DEVICELIST = "eu.siacs.conversations.axolotl.devicelist"
BUNDLES = "eu.siacs.conversations.axolotl.bundles"
AXOLOTL = "eu.siacs.conversations.axolotl"
PUBSUB_ERRORS = "http://jabber.org/protocol/pubsub#errors"


class PepClient(Client):
    """Records pubsub event messages (``pubsub_publish``, ``pubsub_retract``,
    ``pubsub_delete``, ``pubsub_purge``) in ``events``."""

    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        for plugin in ("xep_0004", "xep_0060", "xep_0115", "xep_0163"):
            self.register_plugin(plugin)
        for kind in ("publish", "retract", "delete", "purge"):
            self.add_event_handler(f"pubsub_{kind}", self.events.put_nowait)

    async def next_event(self, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def no_event(self, wait: float = 1.0) -> None:
        """Assert that no pubsub event arrives within `wait` seconds."""
        try:
            event = await asyncio.wait_for(self.events.get(), wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event: {event}")

    @property
    def pubsub(self) -> Any:
        return self.plugin["xep_0060"]


@asynccontextmanager
async def pep_client(
    server: RunningServer,
    jid: str,
    *,
    notify: Iterable[str] = (),
    plugins: Iterable[str] = (),
    presence: bool = True,
) -> AsyncIterator[PepClient]:
    """A logged-in client whose caps want `notify` nodes (``+notify``), plus what `plugins`
    (e.g. ``xep_0084``) declare; online unless told otherwise."""
    client = PepClient(jid, PASSWORD)
    for plugin in plugins:
        client.register_plugin(plugin)
    configure(client, server)
    client.connect("127.0.0.1", server.c2s_port)
    try:
        await asyncio.wait_for(client.started.wait(), TIMEOUT)
        for node in notify:
            client.plugin["xep_0030"].add_feature(f"{node}+notify")
        await client.plugin["xep_0115"].update_caps(broadcast=False)
        if presence:
            await go_online(client)
        yield client
    finally:
        await disconnect(client)


async def befriend(server: RunningServer, a: str, b: str) -> None:
    """A mutual (``both``) presence subscription between two accounts, straight in storage."""
    roster = server.server.storage.roster
    await roster.upsert(RosterItem(a, b, subscription=Subscription.BOTH))
    await roster.upsert(RosterItem(b, a, subscription=Subscription.BOTH))


def publish_options(**fields: str) -> Form:
    form = Form()
    form["type"] = "submit"
    form.add_field(
        var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#publish-options"
    )
    for var, value in fields.items():
        form.add_field(var=f"pubsub#{var}", value=value)
    return form


def payload(tag: str, text: str = "", **attrs: str) -> Element:
    el = Element(tag, attrs)
    el.text = text
    return el


def device_list(*ids: int) -> Element:
    devices = Element(f"{{{AXOLOTL}}}list")
    for id_ in ids:
        devices.append(Element(f"{{{AXOLOTL}}}device", {"id": str(id_)}))
    return devices


def bundle(prekey: str) -> Element:
    el = Element(f"{{{AXOLOTL}}}bundle")
    key = Element(f"{{{AXOLOTL}}}signedPreKeyPublic", {"signedPreKeyId": "1"})
    key.text = prekey
    el.append(key)
    return el


def error_of(refused: IqError) -> tuple[str, str | None]:
    """(defined condition, pubsub#errors condition or None) of an error answer."""
    error = refused.iq["error"]
    specific = None
    for child in error.xml:
        if child.tag.startswith(f"{{{PUBSUB_ERRORS}}}"):
            specific = child.tag.partition("}")[2]
    return error["condition"], specific


def item_payloads(answer: Any) -> list[tuple[str, Element]]:
    """(id, payload element) of every item of an items answer."""
    return [(item["id"], item["payload"]) for item in answer["pubsub"]["items"]]
