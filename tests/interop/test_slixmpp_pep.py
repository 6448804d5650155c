"""PEP (XEP-0163) with publish options (XEP-0223) and +notify caps filtering (XEP-0115)
through slixmpp's xep_0060/0163/0115/0084/0172 plugins, on SQLite and PostgreSQL.

Romeo, Juliet and Nurse are contacts (``both``); Iago is a stranger to everyone."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
from slixmpp.exceptions import IqError

from tests.interop.pep import (
    AXOLOTL,
    BUNDLES,
    DEVICELIST,
    befriend,
    bundle,
    device_list,
    error_of,
    item_payloads,
    payload,
    pep_client,
    publish_options,
)
from tests.interop.slix import TIMEOUT
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.modules.pep import PepModule

pytestmark = pytest.mark.asyncio

PUBSUB = "http://jabber.org/protocol/pubsub"


def _publish_with(node: str, payloads: list[Element]) -> Element:
    publish = Element(f"{{{PUBSUB}}}publish", {"node": node})
    item = Element(f"{{{PUBSUB}}}item", {"id": "x"})
    item.extend(payloads)
    publish.append(item)
    return publish


def _pep(server: RunningServer) -> PepModule:
    (module,) = (m for m in server.app.modules if isinstance(m, PepModule))
    return module


async def _users(server: RunningServer, *names: str) -> list[str]:
    return [await server.add_user(name) for name in names]


async def test_omemo_nodes_with_access_model_open_are_read_by_a_stranger(
    xmpp_server: RunningServer,
) -> None:
    romeo, juliet, iago = await _users(xmpp_server, "romeo", "juliet", "iago")
    await befriend(xmpp_server, romeo, juliet)
    async with (
        pep_client(xmpp_server, romeo, presence=False) as r,
        pep_client(xmpp_server, juliet, presence=False) as j,
        pep_client(xmpp_server, iago, presence=False) as i,
    ):
        open_ = publish_options(access_model="open")
        await r.pubsub.publish(
            romeo, DEVICELIST, id="current", payload=device_list(1234), options=open_
        )
        await r.pubsub.publish(
            romeo,
            f"{BUNDLES}:1234",
            id="current",
            payload=bundle("BASE64KEY"),
            options=publish_options(access_model="open", max_items="max"),
        )
        devices = item_payloads(await i.pubsub.get_items(romeo, DEVICELIST, timeout=TIMEOUT))
        assert [(id_, [d.get("id") for d in el]) for id_, el in devices] == [("current", ["1234"])]
        bundles = item_payloads(await i.pubsub.get_items(romeo, f"{BUNDLES}:1234", timeout=TIMEOUT))
        assert bundles[0][1].findtext(f"{{{AXOLOTL}}}signedPreKeyPublic") == "BASE64KEY"

        # Juliet's device list has the default access model (presence): her contact Romeo
        # reads it, the stranger Iago may not
        await j.pubsub.publish(juliet, DEVICELIST, id="current", payload=device_list(42))
        seen = item_payloads(await r.pubsub.get_items(juliet, DEVICELIST, timeout=TIMEOUT))
        assert seen[0][1][0].get("id") == "42"
        with pytest.raises(IqError) as refused:
            await i.pubsub.get_items(juliet, DEVICELIST, timeout=TIMEOUT)
        assert error_of(refused.value) == ("not-authorized", "presence-subscription-required")
        assert refused.value.iq["error"]["type"] == "auth"


async def test_notifications_follow_plus_notify(xmpp_server: RunningServer) -> None:
    romeo, juliet, nurse = await _users(xmpp_server, "romeo", "juliet", "nurse")
    await befriend(xmpp_server, romeo, juliet)
    await befriend(xmpp_server, romeo, nurse)
    async with (
        pep_client(xmpp_server, romeo, notify=[DEVICELIST]) as r,
        pep_client(xmpp_server, juliet, notify=[DEVICELIST]) as j,
        pep_client(xmpp_server, nurse, notify=["urn:xmpp:other"]) as n,
    ):
        await r.pubsub.publish(
            romeo, DEVICELIST, id="current", payload=device_list(7), timeout=TIMEOUT
        )
        for client in (j, r):  # the contact that asked, and the owner's own resource
            event = await client.next_event()
            assert str(event["from"]) == romeo
            assert event["type"] == "headline"
            items = event["pubsub_event"]["items"]
            assert items["node"] == DEVICELIST
            assert [(it["id"], it["payload"][0].get("id")) for it in items] == [("current", "7")]
        await n.no_event()  # caps without devicelist+notify: nothing
        # the clients' caps were asked for once each, verified (SHA-1) and cached by ver
        assert len(_pep(xmpp_server).notifier.cache) == 2

        # a second resource of Juliet comes online wanting the node: the last item, delayed
        async with pep_client(xmpp_server, juliet, notify=[DEVICELIST]) as j2:
            event = await j2.next_event()
            assert event["pubsub_event"]["items"]["node"] == DEVICELIST
            assert event["delay"]["stamp"] is not None
            assert [it["id"] for it in event["pubsub_event"]["items"]] == ["current"]
        await j.no_event(0.3)  # the first resource did not get it again

        # a later presence with unchanged caps brings nothing again
        j.send_presence(pstatus="away")
        await j.no_event(0.5)


async def test_a_new_subscriber_gets_the_last_items(xmpp_server: RunningServer) -> None:
    """Juliet is online wanting device lists but not subscribed to Romeo: nothing of his; once
    Romeo approves her subscription request, his last device list arrives (delayed)."""
    romeo, juliet = await _users(xmpp_server, "romeo", "juliet")
    async with (
        pep_client(xmpp_server, romeo, notify=[DEVICELIST]) as r,
        pep_client(xmpp_server, juliet, notify=[DEVICELIST]) as j,
    ):
        await r.pubsub.publish(romeo, DEVICELIST, id="current", payload=device_list(5))
        await r.next_event()  # his own resource's copy
        await j.no_event(0.5)  # no subscription: not for her

        asked = asyncio.Event()
        r.add_event_handler("presence_subscribe", lambda _presence: asked.set())
        j.send_presence(pto=romeo, ptype="subscribe")
        await asyncio.wait_for(asked.wait(), TIMEOUT)
        r.send_presence(pto=juliet, ptype="subscribed")
        event = await j.next_event()
        assert str(event["from"]) == romeo
        items = event["pubsub_event"]["items"]
        assert items["node"] == DEVICELIST
        assert [(it["id"], it["payload"][0].get("id")) for it in items] == [("current", "5")]
        assert event["delay"]["stamp"] is not None


async def test_avatar_and_nick_through_their_plugins(xmpp_server: RunningServer) -> None:
    romeo, juliet = await _users(xmpp_server, "romeo", "juliet")
    await befriend(xmpp_server, romeo, juliet)
    plugins = ("xep_0084", "xep_0172")
    async with (
        pep_client(xmpp_server, romeo, plugins=plugins) as r,
        pep_client(xmpp_server, juliet, plugins=plugins) as j,
    ):
        image = bytes(range(256)) * 40
        avatar_id = hashlib.sha1(image).hexdigest()  # noqa: S324 - XEP-0084 ids are SHA-1
        await r.plugin["xep_0084"].publish_avatar(image, timeout=TIMEOUT)
        await r.plugin["xep_0084"].publish_avatar_metadata(
            [{"id": avatar_id, "type": "image/png", "bytes": len(image)}], timeout=TIMEOUT
        )
        event = await j.next_event()  # metadata+notify, as the xep_0084 plugin declares
        assert event["pubsub_event"]["items"]["node"] == "urn:xmpp:avatar:metadata"
        data = await j.plugin["xep_0084"].retrieve_avatar(romeo, avatar_id, timeout=TIMEOUT)
        stored = data["pubsub"]["items"]["item"]["avatar_data"]["value"]
        assert stored == image or base64.b64decode(stored) == image

        await r.plugin["xep_0172"].publish_nick("Romeo M.", timeout=TIMEOUT)
        while (event := await j.next_event())["pubsub_event"]["items"]["node"] != (
            "http://jabber.org/protocol/nick"
        ):
            pass
        nick = item_payloads(
            await j.pubsub.get_items(romeo, "http://jabber.org/protocol/nick", timeout=TIMEOUT)
        )
        assert nick[0][1].text == "Romeo M."


async def test_preconditions_configuration_max_items_retract_delete(
    xmpp_server: RunningServer,
) -> None:
    (romeo,) = await _users(xmpp_server, "romeo")
    async with pep_client(xmpp_server, romeo, presence=False) as r:
        ps = r.pubsub
        await ps.publish(romeo, "urn:x:notes", id="1", payload=payload("{urn:x}n", "one"))
        with pytest.raises(IqError) as refused:  # the node exists with access_model presence
            await ps.publish(
                romeo,
                "urn:x:notes",
                id="2",
                payload=payload("{urn:x}n", "two"),
                options=publish_options(access_model="open"),
            )
        assert error_of(refused.value) == ("conflict", "precondition-not-met")

        form = (await ps.get_node_config(romeo, "urn:x:notes", timeout=TIMEOUT))["pubsub_owner"][
            "configure"
        ]["form"]
        assert form.get_fields()["pubsub#access_model"]["value"] == "presence"
        form["type"] = "submit"
        form.field["pubsub#access_model"]["value"] = "open"
        form.field["pubsub#max_items"]["value"] = "2"
        await ps.set_node_config(romeo, "urn:x:notes", form, timeout=TIMEOUT)
        for n, text in enumerate(("two", "three", "four"), 2):
            await ps.publish(
                romeo,
                "urn:x:notes",
                id=str(n),
                payload=payload("{urn:x}n", text),
                options=publish_options(access_model="open", max_items="2"),
            )
        items = item_payloads(await ps.get_items(romeo, "urn:x:notes", timeout=TIMEOUT))
        assert [(id_, el.text) for id_, el in items] == [("3", "three"), ("4", "four")]
        last = item_payloads(await ps.get_items(romeo, "urn:x:notes", max_items=1))
        assert [id_ for id_, _ in last] == ["4"]

        await ps.retract(romeo, "urn:x:notes", "3", timeout=TIMEOUT)
        with pytest.raises(IqError) as refused:
            await ps.retract(romeo, "urn:x:notes", "3", timeout=TIMEOUT)
        assert error_of(refused.value)[0] == "item-not-found"
        items = item_payloads(await ps.get_items(romeo, "urn:x:notes", timeout=TIMEOUT))
        assert [id_ for id_, _ in items] == ["4"]

        await ps.delete_node(romeo, "urn:x:notes", timeout=TIMEOUT)
        with pytest.raises(IqError) as refused:
            await ps.get_items(romeo, "urn:x:notes", timeout=TIMEOUT)
        assert error_of(refused.value)[0] == "item-not-found"


async def test_bad_requests(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, pep_max_item_size=1024)
    async with running_server(settings) as server:
        romeo, juliet = await _users(server, "romeo", "juliet")
        async with (
            pep_client(server, romeo, presence=False) as r,
            pep_client(server, juliet, presence=False) as j,
        ):
            ps = r.pubsub
            cases = [
                (ps.get_items(romeo, "urn:x:unknown", timeout=TIMEOUT), ("item-not-found", None)),
                (
                    ps.publish(romeo, "urn:x:big", payload=payload("{urn:x}b", "x" * 1100)),
                    ("not-acceptable", "payload-too-big"),
                ),
                (
                    j.pubsub.publish(romeo, "urn:x:n", payload=payload("{urn:x}n")),
                    ("forbidden", None),
                ),
                (
                    ps.subscribe(romeo, DEVICELIST, timeout=TIMEOUT),
                    ("feature-not-implemented", "unsupported"),
                ),
                (ps.get_items("nobody@localhost", DEVICELIST), ("service-unavailable", None)),
            ]
            for request, expected in cases:
                with pytest.raises(IqError) as refused:
                    await request
                assert error_of(refused.value) == expected
            # no node attribute, and an item without payload
            for publish, expected in (
                (Element(f"{{{PUBSUB}}}publish"), ("bad-request", "nodeid-required")),
                (
                    Element(f"{{{PUBSUB}}}publish", {"node": "urn:x:n"}),
                    ("bad-request", "item-required"),
                ),
                (_publish_with("urn:x:n", []), ("bad-request", "payload-required")),
                (
                    _publish_with("urn:x:n", [payload("{urn:x}a"), payload("{urn:x}b")]),
                    ("bad-request", "invalid-payload"),
                ),
            ):
                iq = r.make_iq_set()
                pubsub = Element(f"{{{PUBSUB}}}pubsub")
                pubsub.append(publish)
                iq.append(pubsub)
                with pytest.raises(IqError) as refused:
                    await iq.send(timeout=TIMEOUT)
                assert error_of(refused.value) == expected
            # the same payload under the limit is taken
            await ps.publish(romeo, "urn:x:big", payload=payload("{urn:x}b", "x" * 900))


async def test_account_disco_shows_pep(xmpp_server: RunningServer) -> None:
    romeo, juliet = await _users(xmpp_server, "romeo", "juliet")
    await befriend(xmpp_server, romeo, juliet)
    async with (
        pep_client(xmpp_server, romeo, presence=False) as r,
        pep_client(xmpp_server, juliet, presence=False) as j,
    ):
        info = await r.plugin["xep_0030"].get_info(romeo, timeout=TIMEOUT)
        assert ("pubsub", "pep") in {i[:2] for i in info["disco_info"]["identities"]}
        features = info["disco_info"]["features"]
        for feature in ("publish", "publish-options", "auto-create", "access-open"):
            assert f"{PUBSUB}#{feature}" in features
        await r.pubsub.publish(
            romeo,
            "urn:x:secret",
            payload=payload("{urn:x}s"),
            options=publish_options(access_model="whitelist"),
        )
        await r.pubsub.publish(romeo, DEVICELIST, payload=device_list(1))
        mine = await r.plugin["xep_0030"].get_items(romeo, timeout=TIMEOUT)
        assert sorted(i[1] for i in mine["disco_items"]["items"]) == sorted(
            [DEVICELIST, "urn:x:secret"]
        )
        theirs = await j.plugin["xep_0030"].get_items(romeo, timeout=TIMEOUT)
        assert [i[1] for i in theirs["disco_items"]["items"]] == [DEVICELIST]
        with pytest.raises(IqError) as refused:  # whitelist: the owner only
            await j.pubsub.get_items(romeo, "urn:x:secret", timeout=TIMEOUT)
        assert error_of(refused.value) == ("not-allowed", "closed-node")


async def test_last_items_at_login_follow_access_and_blocking(xmpp_server: RunningServer) -> None:
    romeo, juliet = await _users(xmpp_server, "romeo", "juliet")
    await befriend(xmpp_server, romeo, juliet)
    async with pep_client(xmpp_server, romeo, presence=False) as r:
        await r.pubsub.publish(romeo, "urn:x:open", id="o", payload=payload("{urn:x}o"))
        await r.pubsub.publish(
            romeo,
            "urn:x:private",
            id="p",
            payload=payload("{urn:x}p"),
            options=publish_options(access_model="whitelist"),
        )
        async with pep_client(xmpp_server, juliet, notify=["urn:x:open", "urn:x:private"]) as j:
            event = await j.next_event()  # the node she may read, not the whitelisted one
            assert event["pubsub_event"]["items"]["node"] == "urn:x:open"
            await j.no_event(0.5)
            # Juliet blocks Romeo (XEP-0191): his events no longer reach her
            j.register_plugin("xep_0191")
            await j.plugin["xep_0191"].block(romeo, timeout=TIMEOUT)
            await r.pubsub.publish(romeo, "urn:x:open", id="o2", payload=payload("{urn:x}o"))
            await j.no_event(0.5)


async def test_limits_on_nodes_and_items(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, pep_max_nodes=2, pep_max_items=3)
    async with running_server(settings) as server:
        (romeo,) = await _users(server, "romeo")
        async with pep_client(server, romeo, presence=False) as r:
            ps = r.pubsub
            most = publish_options(max_items="max")
            for n in range(5):  # 'max' is PEP_MAX_ITEMS
                await ps.publish(
                    romeo, "urn:x:a", id=str(n), payload=payload("{urn:x}a"), options=most
                )
            items = item_payloads(await ps.get_items(romeo, "urn:x:a", timeout=TIMEOUT))
            assert [id_ for id_, _ in items] == ["2", "3", "4"]
            with pytest.raises(IqError) as refused:  # more than the service keeps
                await ps.publish(
                    romeo,
                    "urn:x:b",
                    payload=payload("{urn:x}b"),
                    options=publish_options(max_items="4"),
                )
            assert error_of(refused.value) == ("conflict", "precondition-not-met")
            await ps.publish(romeo, "urn:x:b", payload=payload("{urn:x}b"))
            with pytest.raises(IqError) as refused:  # a third node
                await ps.publish(romeo, "urn:x:c", payload=payload("{urn:x}c"))
            assert error_of(refused.value) == ("not-allowed", "max-nodes-exceeded")
            await ps.publish(romeo, "urn:x:b", payload=payload("{urn:x}b"))  # existing: fine


async def test_create_default_and_owner_events(xmpp_server: RunningServer) -> None:
    romeo, juliet = await _users(xmpp_server, "romeo", "juliet")
    await befriend(xmpp_server, romeo, juliet)
    node = "urn:x:status"
    async with (
        pep_client(xmpp_server, romeo, notify=[node]) as r,
        pep_client(xmpp_server, juliet, notify=[node]) as j,
    ):
        ps = r.pubsub
        default = (await ps.get_node_config(romeo, timeout=TIMEOUT))["pubsub_owner"]["default"]
        fields = default["form"].get_fields()
        assert fields["pubsub#access_model"]["value"] == "presence"
        assert fields["pubsub#max_items"]["value"] == "1"

        config = publish_options(max_items="5", title="Status")  # its fields, as a node_config
        await ps.create_node(romeo, node, config=config, timeout=TIMEOUT)
        with pytest.raises(IqError) as refused:
            await ps.create_node(romeo, node, timeout=TIMEOUT)
        assert error_of(refused.value)[0] == "conflict"
        disco = await j.plugin["xep_0030"].get_items(romeo, timeout=TIMEOUT)
        assert [(i[1], i[2]) for i in disco["disco_items"]["items"]] == [(node, "Status")]

        for id_ in ("a", "b"):
            await ps.publish(romeo, node, id=id_, payload=payload("{urn:x}s", id_))
            for client in (r, j):
                assert (await client.next_event())["pubsub_event"]["items"]["item"]["id"] == id_
        await ps.retract(romeo, node, "a", notify=True, timeout=TIMEOUT)
        await ps.retract(romeo, node, "b", timeout=TIMEOUT)  # without notify: silent
        for client in (r, j):
            event = await client.next_event()
            assert [item["id"] for item in event["pubsub_event"]["items"]["substanzas"]] == ["a"]
        await ps.publish(romeo, node, id="c", payload=payload("{urn:x}s", "c"))
        for client in (r, j):
            await client.next_event()
        await ps.purge(romeo, node, timeout=TIMEOUT)
        for client in (r, j):
            assert (await client.next_event())["pubsub_event"]["purge"]["node"] == node
        assert item_payloads(await j.pubsub.get_items(romeo, node, timeout=TIMEOUT)) == []
        with pytest.raises(IqError) as refused:  # the owner's business only
            await j.pubsub.purge(romeo, node, timeout=TIMEOUT)
        assert error_of(refused.value)[0] == "forbidden"
        await ps.delete_node(romeo, node, timeout=TIMEOUT)
        for client in (r, j):
            assert (await client.next_event())["pubsub_event"]["delete"]["node"] == node
        await j.no_event(0.3)
