"""A push "app server" (XEP-0357 §3) for the tests: a slixmpp client of a local account that
takes pubsub publishes, records them (with the time they arrived) and answers them — with a
result, or with an error when told to fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, tostring

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.interop.slix import connected
from tests.server_fixtures import RunningServer

PUBSUB = "http://jabber.org/protocol/pubsub"
PUSH = "urn:xmpp:push:0"
DATA = "jabber:x:data"


def form_values(form: Element | None) -> dict[str, list[str]]:
    """A data form's fields: var → values."""
    if form is None:
        return {}
    return {
        field.get("var", ""): [value.text or "" for value in field.findall(f"{{{DATA}}}value")]
        for field in form.findall(f"{{{DATA}}}field")
    }


@dataclass(frozen=True)
class Publish:
    """One publish the app server received."""

    iq: Element
    received_at: float  # time.perf_counter()

    @property
    def xml(self) -> str:
        return tostring(self.iq, encoding="unicode")

    @property
    def node(self) -> str:
        publish = self.iq.find(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}publish")
        return "" if publish is None else publish.get("node", "")

    @property
    def summary(self) -> dict[str, str]:
        form = self.iq.find(
            f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}publish/{{{PUBSUB}}}item/{{{PUSH}}}notification"
            f"/{{{DATA}}}x"
        )
        return {var: values[0] if values else "" for var, values in form_values(form).items()}

    @property
    def options(self) -> dict[str, list[str]]:
        return form_values(
            self.iq.find(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}publish-options/{{{DATA}}}x")
        )


class AppServer:
    """Wraps a slixmpp client or component (``ComponentXMPP``): anything with handlers."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.publishes: asyncio.Queue[Publish] = asyncio.Queue()
        self.fail = False  # answer with <not-authorized/> instead of a result
        self.received = 0
        client.register_handler(
            Callback(
                "push publishes",
                MatchXPath(f"{{{client.default_ns}}}iq/{{{PUBSUB}}}pubsub"),
                self._on_publish,
            )
        )

    @property
    def jid(self) -> str:
        return str(self.client.boundjid.full)

    def _on_publish(self, iq: Any) -> None:
        if iq["type"] != "set":
            return
        self.received += 1
        self.publishes.put_nowait(Publish(iq.xml, time.perf_counter()))
        reply = iq.reply(clear=True)
        if self.fail:
            reply["error"]["type"] = "auth"
            reply["error"]["condition"] = "not-authorized"
        reply.send()

    async def next(self, timeout: float = 5.0) -> Publish:
        return await asyncio.wait_for(self.publishes.get(), timeout)

    async def nothing(self, seconds: float) -> None:
        """Fails if a publish arrives within `seconds`."""
        try:
            publish = await asyncio.wait_for(self.publishes.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected publish: {publish.xml}")


@asynccontextmanager
async def app_server(server: RunningServer, local: str = "app") -> AsyncIterator[AppServer]:
    """A logged-in app server at ``local@domain/push`` (the account is created)."""
    bare = await server.add_user(local)
    async with connected(server, f"{bare}/push") as client:
        yield AppServer(client)
