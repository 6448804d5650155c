"""XEP-0357 push notifications over real sockets: Juliet's phone is a raw stream
(`tests.integration.xmpp_raw`), the push app server a second local account logged in with
slixmpp (`tests.interop.push_app`), Romeo a raw stream that writes to her.

* her phone hibernates (XEP-0198): Romeo's JMI ``propose`` reaches the app server within a
  second as a high-priority notification, his ``retract`` as a second one, a chat message as a
  normal one; no body ever appears; she resumes with nothing lost;
* her phone is offline: messages are notified (coalesced, count kept); ``disable`` stops them;
* an app server that answers errors, or a JID nobody answers for, is disabled after
  ``PUSH_MAX_ERRORS`` failures, and every message still reaches her;
* bad requests get the documented errors; the feature is in her account's disco#info.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest

from tests.integration.xmpp_raw import SM, RawClient, clients, until
from tests.interop.component import COMPONENT, component
from tests.interop.component import SECRET as COMPONENT_SECRET
from tests.interop.push_app import AppServer, app_server
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.core.accounts import parse_account_jid
from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.events import AccountDeleted
from xmpp_video.modules.push import PushModule

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
]
IQ = "{jabber:client}iq"
MESSAGE = "{jabber:client}message"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PUSH = "urn:xmpp:push:0"
JMI = "urn:xmpp:jingle-message:0"
SECRET = "eruio234vzxc2kla-91"
BODY_MARKER = "wherefore-art-thou"  # a message body that must never reach the app server
OPTIONS_FORM = (
    "<x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value>"
    f"</field><field var='secret'><value>{SECRET}</value></field></x>"
)


@asynccontextmanager
async def push_server(
    tmp_path: Path, database_url: str, **overrides: object
) -> AsyncIterator[RunningServer]:
    settings = make_settings(tmp_path, database_url, **overrides)
    async with running_server(settings) as server:
        await server.add_user("juliet")
        await server.add_user("romeo")
        yield server


def module(server: RunningServer) -> PushModule:
    return next(m for m in server.app.modules if isinstance(m, PushModule))


def hibernating(server: RunningServer, full: str) -> bool:
    session = server.server.registry.get(full)
    return session is not None and session.hibernating


async def answer(client: RawClient, id_: str) -> Element:
    while True:
        el, _ = await client.until(IQ)
        if el.get("id") == id_:
            return el


async def request(client: RawClient, payload: str, id_: str, to: str | None = None) -> Element:
    to_attr = f" to='{to}'" if to else ""
    client.send(f"<iq type='set' id='{id_}'{to_attr}>{payload}</iq>")
    return await answer(client, id_)


def condition(reply: Element) -> str | None:
    if reply.get("type") != "error":
        return None
    error = reply.find("{jabber:client}error")
    assert error is not None
    return next(c.tag.partition("}")[2] for c in error if c.tag.startswith(f"{{{STANZAS}}}"))


def enable_xml(service: str, node: str = "juliet-node", form: str = OPTIONS_FORM) -> str:
    return f"<enable xmlns='{PUSH}' jid='{service}' node='{node}'>{form}</enable>"


async def phone(open_: Callable[[], Awaitable[RawClient]], service: str) -> RawClient:
    """Juliet's phone: online, stream management with resumption, push enabled."""
    juliet = await open_()
    await juliet.login("juliet", resource="phone")
    juliet.send("<presence/>")
    juliet.send(f"<enable xmlns='{SM}' resume='true'/>")
    await juliet.until(f"{{{SM}}}enabled")
    reply = await request(juliet, enable_xml(service), "push-on")
    assert reply.get("type") == "result", reply.attrib
    return juliet


async def romeo_online(open_: Callable[[], Awaitable[RawClient]]) -> RawClient:
    romeo = await open_()
    await romeo.login("romeo", resource="desk")
    romeo.send("<presence/>")
    return romeo


def jmi(action: str, call_id: str = "call-1") -> str:
    inner = (
        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>"
        if action == "propose"
        else ""
    )
    return (
        f"<message to='juliet@localhost' type='chat' id='{action}-{call_id}'>"
        f"<{action} xmlns='{JMI}' id='{call_id}'>{inner}</{action}></message>"
    )


def chat(body: str) -> str:
    return f"<message to='juliet@localhost' type='chat'><body>{body}</body></message>"


# -- a hibernating phone -------------------------------------------------------------------------


async def test_hibernating_phone_rings_then_stops_and_no_body_leaks(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="xmpp_video")
    async with (
        push_server(tmp_path, database_url) as server,
        app_server(server) as app,
        clients(server) as open_,
    ):
        juliet = await phone(open_, app.jid)
        full = juliet.full
        juliet.abort()  # the phone's radio drops
        await until(lambda: hibernating(server, full))
        stream = server.server.registry.get(full)
        assert isinstance(stream, C2SStream)
        romeo = await romeo_online(open_)

        sent_at = time.perf_counter()
        romeo.send(jmi("propose"))
        ring = await app.next(timeout=1.0)
        assert ring.received_at - sent_at < 1.0
        assert ring.iq.get("from") == "juliet@localhost"
        assert ring.iq.get("type") == "set"
        assert ring.node == "juliet-node"
        assert ring.summary == {
            "FORM_TYPE": "urn:xmpp:push:summary",
            "message-count": "1",
            "last-message-sender": "romeo@localhost",
            "last-message-priority": "high",
            "x-call-action": "propose",
            "x-call-id": "call-1",
        }
        assert ring.options == {
            "FORM_TYPE": ["http://jabber.org/protocol/pubsub#publish-options"],
            "secret": [SECRET],
        }

        romeo.send(jmi("retract"))
        stop = await app.next(timeout=1.0)
        assert stop.summary["x-call-action"] == "retract"
        assert stop.summary["x-call-id"] == "call-1"
        assert stop.summary["last-message-priority"] == "high"
        romeo.send(jmi("retract"))  # a second end of the same call: nothing more
        romeo.send(jmi("ringing"))  # not a reason to wake anyone
        await app.nothing(0.3)

        romeo.send(chat(BODY_MARKER))
        message = await app.next(timeout=1.0)
        assert message.summary["message-count"] == "2"
        assert message.summary["last-message-priority"] == "normal"
        assert "x-call-action" not in message.summary
        for publish in (ring, stop, message):
            assert BODY_MARKER not in publish.xml
            assert "body" not in publish.xml

        # she comes back: everything is there, and the count starts over
        stats = module(server).stats
        await until(lambda: stats["delivered"] == 3)  # the app server's answers came back
        again = await open_()
        await again.login("juliet", resource=None)
        assert stream.sm is not None
        assert stream.sm.id is not None
        again.send(f"<resume xmlns='{SM}' previd='{stream.sm.id}' h='0'/>")
        await again.until(f"{{{SM}}}resumed")
        got = [el for el in await again.quiet(0.5) if el.tag == MESSAGE]
        kinds = [
            child.tag.partition("}")[2]
            for el in got
            for child in el
            if child.tag.startswith(f"{{{JMI}}}") or child.tag == "{jabber:client}body"
        ]
        assert kinds == ["propose", "retract", "retract", "ringing", "body"]
        assert module(server)._devices["juliet@localhost"][0].count == 0
        assert app.received == 3
    # the server's logs name the app server, never the secret or a body
    assert "push: juliet@localhost/phone enabled notifications to app@localhost/push" in caplog.text
    assert SECRET not in caplog.text
    assert BODY_MARKER not in caplog.text


async def test_call_answered_on_another_device_stops_the_ringing(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        push_server(tmp_path, database_url) as server,
        app_server(server) as app,
        clients(server) as open_,
    ):
        juliet = await phone(open_, app.jid)
        juliet.abort()
        await until(lambda: hibernating(server, juliet.full))
        laptop = await open_()
        await laptop.login("juliet", resource="laptop")
        laptop.send("<presence/>")
        romeo = await romeo_online(open_)

        romeo.send(jmi("propose", "call-2"))
        ring = await app.next(timeout=1.0)
        assert ring.summary["x-call-action"] == "propose"
        # the laptop accepts: to her own bare JID (SPEC §10), so her other devices stop ringing
        laptop.send(
            f"<message to='juliet@localhost' type='chat'><accept xmlns='{JMI}' id='call-2'/>"
            "</message>"
        )
        stop = await app.next(timeout=1.0)
        assert (stop.summary["x-call-action"], stop.summary["x-call-id"]) == ("accept", "call-2")
        assert stop.summary["last-message-sender"] == "juliet@localhost"


# -- an offline phone ------------------------------------------------------------------------------


async def test_offline_phone_is_notified_coalesced_until_disabled(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        push_server(tmp_path, database_url, push_coalesce_window=0.5) as server,
        app_server(server) as app,
        clients(server) as open_,
    ):
        juliet = await phone(open_, app.jid)
        juliet.send("</stream:stream>")  # a clean logout: offline, registration kept
        await until(lambda: server.server.registry.get(juliet.full) is None)
        romeo = await romeo_online(open_)

        for n in range(4):
            romeo.send(chat(f"{BODY_MARKER} {n}"))
        first = await app.next(timeout=1.0)
        assert first.summary["message-count"] == "1"
        coalesced = await app.next(timeout=2.0)  # the other three, at the end of the window
        assert coalesced.summary["message-count"] == "4"
        await app.nothing(0.7)
        assert BODY_MARKER not in first.xml + coalesced.xml

        # from another device of hers: disable it
        laptop = await open_()
        await laptop.login("juliet", resource="laptop")
        reply = await request(laptop, f"<disable xmlns='{PUSH}' jid='{app.jid}'/>", "off")
        assert reply.get("type") == "result"
        assert await server.server.storage.push.list("juliet@localhost") == []
        laptop.send("</stream:stream>")
        await until(lambda: not server.server.registry.resources("juliet@localhost"))
        romeo.send(chat("after disable"))
        await app.nothing(1.0)
        # every message is waiting for her
        assert len(await server.server.storage.offline.pop_all("juliet@localhost")) == 5


async def test_a_call_to_an_offline_phone_rings_until_its_timeout(
    tmp_path: Path, database_url: str
) -> None:
    """With a push registration, a propose that reached no connected device does not end the
    call as unreachable: it rings while the phone wakes up, and the ring timeout ends it (the
    caller hears a reject, the phone a retract: a second notification)."""
    async with (
        push_server(tmp_path, database_url, ring_timeout=2) as server,
        app_server(server) as app,
        clients(server) as open_,
    ):
        juliet = await phone(open_, app.jid)
        juliet.send("</stream:stream>")
        await until(lambda: server.server.registry.get(juliet.full) is None)
        romeo = await romeo_online(open_)

        romeo.send(jmi("propose", "call-9"))
        ring = await app.next(timeout=1.0)
        assert (ring.summary["x-call-action"], ring.summary["x-call-id"]) == ("propose", "call-9")
        early = await romeo.quiet(1.0)
        assert [el for el in early if el.find(f"{{{JMI}}}reject") is not None] == []
        assert "call-9" in server.app.calls.processes

        message, _ = await romeo.until("{jabber:client}message", timeout=4.0)
        reject = message.find(f"{{{JMI}}}reject")
        assert reject is not None
        assert reject.get("id") == "call-9"
        stop = await app.next(timeout=2.0)
        assert (stop.summary["x-call-action"], stop.summary["x-call-id"]) == ("retract", "call-9")


async def test_a_component_as_app_server(tmp_path: Path, database_url: str) -> None:
    async with (
        push_server(tmp_path, database_url, components=f"{COMPONENT}={COMPONENT_SECRET}") as server,
        component(server) as comp,
        clients(server) as open_,
    ):
        app = AppServer(comp)
        juliet = await phone(open_, COMPONENT)
        juliet.send("</stream:stream>")
        await until(lambda: server.server.registry.get(juliet.full) is None)
        romeo = await romeo_online(open_)

        romeo.send(jmi("propose", "call-3"))
        ring = await app.next(timeout=1.0)
        assert ring.iq.get("from") == "juliet@localhost"
        assert ring.iq.get("to") == COMPONENT
        assert (ring.summary["x-call-action"], ring.summary["x-call-id"]) == ("propose", "call-3")
        # its answer came back (the call process, finding no device online, may already have
        # retracted the call: a second notification)
        await until(lambda: module(server).stats["delivered"] >= 1)
        assert module(server).stats["failed"] + module(server).stats["timed-out"] == 0


async def test_the_app_server_may_disable_a_registration(tmp_path: Path, database_url: str) -> None:
    async with (
        push_server(tmp_path, database_url) as server,
        app_server(server) as app,
        clients(server) as open_,
    ):
        await phone(open_, app.jid)
        assert len(await server.server.storage.push.list("juliet@localhost")) == 1
        app.client.send_raw(  # XEP-0357 §8: the app server stops taking her notifications
            "<message to='juliet@localhost'>"
            "<pubsub xmlns='http://jabber.org/protocol/pubsub' node='juliet-node'>"
            "<affiliation jid='juliet@localhost' affiliation='none'/></pubsub></message>"
        )
        await until(lambda: module(server).has_registrations("juliet@localhost") is False)
        assert await server.server.storage.push.list("juliet@localhost") == []


# -- failing app servers ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["error", "nobody"])
async def test_failing_app_server_is_disabled_and_delivery_goes_on(
    tmp_path: Path, database_url: str, kind: str
) -> None:
    async with (
        push_server(
            tmp_path,
            database_url,
            push_max_errors=2,
            push_timeout=0.3,
            push_coalesce_window=0.0,
        ) as server,
        app_server(server) as app,
        clients(server) as open_,
    ):
        app.fail = True
        service = app.jid if kind == "error" else "nobody@localhost/push"
        juliet = await phone(open_, service)
        juliet.send("</stream:stream>")
        await until(lambda: server.server.registry.get(juliet.full) is None)
        romeo = await romeo_online(open_)
        push = module(server)

        romeo.send(chat("one"))
        await until(lambda: push.stats["failed"] + push.stats["timed-out"] == 1)
        assert await server.server.storage.push.list("juliet@localhost") != []
        romeo.send(chat("two"))
        await until(lambda: push.stats["disabled"] == 1)
        await until(lambda: push.stats["failed"] + push.stats["timed-out"] == 2)
        assert await server.server.storage.push.list("juliet@localhost") == []
        romeo.send(chat("three"))
        await asyncio.sleep(0.5)
        assert push.stats["failed"] + push.stats["timed-out"] == 2
        assert app.received == (2 if kind == "error" else 0)

        # nothing was lost: she gets all three when she comes online
        back = await open_()
        await back.login("juliet", resource="phone")
        back.send("<presence/>")
        got = [el for el in await back.quiet(1.0) if el.tag == MESSAGE]
        assert [el.findtext("{jabber:client}body") for el in got] == ["one", "two", "three"]


# -- requests --------------------------------------------------------------------------------------


async def test_bad_requests_get_the_documented_errors(tmp_path: Path, database_url: str) -> None:
    async with (
        push_server(tmp_path, database_url, push_max_registrations=2) as server,
        clients(server) as open_,
    ):
        juliet = await open_()
        await juliet.login("juliet", resource="phone")
        cases = {
            f"<enable xmlns='{PUSH}' node='n'/>": "bad-request",
            f"<enable xmlns='{PUSH}' jid='' node='n'/>": "bad-request",
            f"<enable xmlns='{PUSH}' jid='a@b@c' node='n'/>": "jid-malformed",
            f"<enable xmlns='{PUSH}' jid='app.example'/>": "bad-request",
            enable_xml(
                "app.example",
                form="<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>other</value>"
                "</field></x>",
            ): "bad-request",
            enable_xml("app.example", form="<x xmlns='jabber:x:data'/>"): "bad-request",
            enable_xml("app.example", form=OPTIONS_FORM + OPTIONS_FORM): "bad-request",
            f"<enable xmlns='{PUSH}' jid='app.example' node='{'n' * 1024}'/>": "not-acceptable",
            f"<disable xmlns='{PUSH}'/>": "bad-request",
            f"<disable xmlns='{PUSH}' jid='@'/>": "jid-malformed",
        }
        for n, (payload, expected) in enumerate(cases.items()):
            assert condition(await request(juliet, payload, f"bad-{n}")) == expected, payload
        # someone else's account
        other = await request(juliet, enable_xml("app.example"), "other", to="romeo@localhost")
        assert condition(other) == "forbidden"
        # to the server: not the place
        server_iq = await request(juliet, enable_xml("app.example"), "srv", to="localhost")
        assert condition(server_iq) == "service-unavailable"
        assert await server.server.storage.push.list("juliet@localhost") == []

        # limit: 2 registrations; enabling one again replaces it
        for n, node in enumerate(("n1", "n2", "n1")):
            reply = await request(juliet, enable_xml("app.example", node), f"ok-{n}")
            assert reply.get("type") == "result"
        third = await request(juliet, enable_xml("app.example", "n3"), "third")
        assert condition(third) == "resource-constraint"
        assert len(await server.server.storage.push.list("juliet@localhost")) == 2
        # disable of something never enabled: fine
        nothing = await request(juliet, f"<disable xmlns='{PUSH}' jid='x.example'/>", "none")
        assert nothing.get("type") == "result"

        # advertised on her account
        juliet.send(
            "<iq type='get' id='disco' to='juliet@localhost'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        )
        info = await answer(juliet, "disco")
        features = {
            f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")
        }
        assert PUSH in features


async def test_registrations_survive_a_restart_and_go_with_the_account(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url)
    async with running_server(settings) as server, clients(server) as open_:
        await server.add_user("juliet")
        juliet = await open_()
        await juliet.login("juliet", resource="phone")
        reply = await request(juliet, enable_xml("app.example"), "on")
        assert reply.get("type") == "result"
    async with running_server(settings) as server:
        [kept] = await server.server.storage.push.list("juliet@localhost")
        assert (kept.resource, kept.service, kept.node) == ("phone", "app.example", "juliet-node")
        assert kept.options == (("secret", (SECRET,)),)
        await until(lambda: module(server)._loaded)
        assert "juliet@localhost" in module(server)._owners
        await server.server.accounts.delete(parse_account_jid("juliet", server.domain))
        await server.server.hooks.fire(AccountDeleted("juliet@localhost"))
        assert await server.server.storage.push.list("juliet@localhost") == []
        assert "juliet@localhost" not in module(server)._owners
