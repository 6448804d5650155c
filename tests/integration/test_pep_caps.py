"""PEP +notify filtering from the wire (XEP-0163 §4.2, XEP-0115 §5.4), with hand-written
streams: the server asks a client's disco#info about caps it does not know, checks the
verification string, caches it only when it matches, and waits a bounded time for the answer.

Romeo publishes; Juliet's streams announce caps and answer (or not) the server's question."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest

from tests.integration.xmpp_raw import RawClient
from tests.interop.pep import befriend
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.modules.pep import PepModule

pytestmark = pytest.mark.asyncio

IQ = "{jabber:client}iq"
MESSAGE = "{jabber:client}message"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
EVENT = "http://jabber.org/protocol/pubsub#event"
NODE = "urn:x:mood"
FEATURES = (DISCO_INFO, "http://jabber.org/protocol/caps", f"{NODE}+notify")


def true_ver() -> str:
    """XEP-0115 §5.1 for identity client/phone (no name, no lang) and FEATURES."""
    text = "client/phone//<" + "".join(f"{f}<" for f in sorted(FEATURES))
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()  # noqa: S324


def caps_cache_size(server: RunningServer) -> int:
    (module,) = (m for m in server.app.modules if isinstance(m, PepModule))
    return len(module.notifier.cache)


async def online(client: RawClient, ver: str) -> None:
    client.send(
        f"<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1'"
        f" node='https://example.com/app' ver='{ver}'/></presence>"
    )


async def answer_disco(client: RawClient) -> Element:
    """Read up to the server's disco#info question, answer it with FEATURES; the question."""
    while True:
        question, _ = await client.until(IQ)
        if question.find(f"{{{DISCO_INFO}}}query") is not None:
            break
    features = "".join(f"<feature var='{f}'/>" for f in FEATURES)
    client.send(
        f"<iq type='result' id='{question.get('id')}' to='{question.get('from')}'>"
        f"<query xmlns='{DISCO_INFO}' node='{question[0].get('node')}'>"
        f"<identity category='client' type='phone'/>{features}</query></iq>"
    )
    return question


def publish(client: RawClient, item_id: str) -> None:
    client.send(
        f"<iq type='set' id='pub-{item_id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
        f"<publish node='{NODE}'><item id='{item_id}'><mood xmlns='{NODE}'/></item></publish>"
        "</pubsub></iq>"
    )


async def event_item(client: RawClient, before: list[Element] | None = None) -> Element:
    """The <item/> of the next pubsub event message; what came first goes to `before`."""
    while True:
        message, earlier = await client.until(MESSAGE)
        if before is not None:
            before.extend(earlier)
        item = message.find(f"{{{EVENT}}}event/{{{EVENT}}}items/{{{EVENT}}}item")
        if item is not None:
            return item


async def test_verified_caps_are_cached_and_forged_ones_are_not(
    xmpp_server: RunningServer,
) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    await befriend(xmpp_server, romeo, juliet)
    r, j, j2, j3 = [await RawClient.connect(xmpp_server) for _ in range(4)]
    try:
        await r.login("romeo")
        await j.login("juliet", resource="forged")
        await j2.login("juliet", resource="true")
        await j3.login("juliet", resource="again")

        # a ver that does not match the answer: the answer serves this stream, is not cached
        await online(j, "Zm9yZ2VkIHZlcg==")
        question = await answer_disco(j)
        assert question.get("from") == "localhost"
        assert question[0].get("node") == "https://example.com/app#Zm9yZ2VkIHZlcg=="
        publish(r, "1")
        assert (await event_item(j)).get("id") == "1"
        assert caps_cache_size(xmpp_server) == 0

        # the true ver: asked once, cached; the next stream with it is not asked again
        await online(j2, true_ver())
        await answer_disco(j2)
        assert (await event_item(j2)).get("id") == "1"  # the last item, on coming online
        assert caps_cache_size(xmpp_server) == 1
        await online(j3, true_ver())
        before: list[Element] = []
        item = await event_item(j3, before)  # at once: nothing asked first
        assert item.get("id") == "1"
        assert [el for el in before if el.tag == IQ] == []
    finally:
        for client in (r, j, j2, j3):
            client.close()


async def test_a_client_that_does_not_answer_gets_no_notifications(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, pep_caps_timeout=0.5)
    async with running_server(settings) as server:
        romeo = await server.add_user("romeo")
        juliet = await server.add_user("juliet")
        await befriend(server, romeo, juliet)
        r, j = await RawClient.connect(server), await RawClient.connect(server)
        try:
            await r.login("romeo")
            await j.login("juliet")
            await online(j, true_ver())
            question, _ = await j.until(IQ)  # asked, never answered
            assert question.find(f"{{{DISCO_INFO}}}query") is not None
            await j.quiet(0.8)  # past PEP_CAPS_TIMEOUT
            publish(r, "1")
            late = await j.quiet(0.5)
            assert [el for el in late if el.tag == MESSAGE] == []
            assert caps_cache_size(server) == 0
            # an answer after the timeout is routed like any other result (dropped)
            j.send(f"<iq type='result' id='{question.get('id')}' to='localhost'/>")
            j.send("<iq type='get' id='ping'><ping xmlns='urn:xmpp:ping'/></iq>")
            pong, _ = await j.until(IQ)
            assert (pong.get("id"), pong.get("type")) == ("ping", "result")
        finally:
            r.close()
            j.close()
