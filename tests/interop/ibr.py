"""In-band registration (XEP-0077) with slixmpp's ``xep_0077`` plugin, as a client does it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from slixmpp.exceptions import IqError
from slixmpp.jid import InvalidJID

from tests.interop.slix import TIMEOUT, make_client
from tests.server_fixtures import RunningServer

FEATURE = "{http://jabber.org/features/iq-register}register"


@dataclass
class Attempt:
    """What one in-band registration attempt saw."""

    offered: bool = False  # the stream features (after STARTTLS) had <register/>
    form: set[str] = field(default_factory=set)  # fields of the registration form
    error: str | None = None  # the condition of a refused registration
    error_type: str | None = None
    logged_in: bool = False  # the new account logged in on the same stream


async def register(server: RunningServer, username: str, password: str) -> Attempt:
    """Connect, register ``username`` in-band with slixmpp's plugin, then log in with it."""
    try:
        client = make_client(server, f"{username}@{server.domain}", password)
    except InvalidJID:  # slixmpp refuses the name itself: register it from another JID
        client = make_client(server, f"someone@{server.domain}", password)
    client.register_plugin("xep_0077")
    attempt = Attempt()
    done = asyncio.Event()

    def features(stanza: Any) -> Any:
        xml = stanza.xml
        if xml.tag == "{http://etherx.jabber.org/streams}features" and (
            xml.find("{urn:ietf:params:xml:ns:xmpp-sasl}mechanisms") is not None
        ):
            attempt.offered = attempt.offered or xml.find(FEATURE) is not None
        return stanza

    async def on_register(form: Any) -> None:
        attempt.form = set(form["register"]["fields"])
        iq = client.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = username
        iq["register"]["password"] = password
        try:
            await iq.send(timeout=TIMEOUT)
        except IqError as exc:
            attempt.error = str(exc.iq["error"]["condition"])
            attempt.error_type = str(exc.iq["error"]["type"])
            done.set()

    client.add_filter("in", features)
    client.add_event_handler("register", on_register)
    client.add_event_handler("session_start", lambda _e: done.set())
    client.add_event_handler("failed_all_auth", lambda _e: done.set())
    client.connect("127.0.0.1", server.c2s_port)
    try:
        await asyncio.wait_for(done.wait(), TIMEOUT)
        attempt.logged_in = client.started.is_set()
    finally:
        client.abort()
    return attempt
