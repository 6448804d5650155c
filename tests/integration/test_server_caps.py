"""The server's entity capabilities (XEP-0115 §6.3) as a client sees them: a ``<c/>`` in the
stream features whose ``ver`` is the hash of what the server's disco#info says, and the
``node#ver`` node answering the same. The hash is recomputed here from §5.1 by hand."""

from __future__ import annotations

import base64
import hashlib
from xml.etree.ElementTree import Element

import pytest

from tests.integration.xmpp_raw import RawClient
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio

CAPS = "http://jabber.org/protocol/caps"
INFO = "http://jabber.org/protocol/disco#info"


def _ver(query: Element) -> str:
    identities = sorted(
        "/".join(
            (
                el.get("category", ""),
                el.get("type", ""),
                el.get("{http://www.w3.org/XML/1998/namespace}lang", ""),
                el.get("name", ""),
            )
        )
        for el in query.findall(f"{{{INFO}}}identity")
    )
    features = sorted(el.get("var", "") for el in query.findall(f"{{{INFO}}}feature"))
    text = "".join(s + "<" for s in identities + features)
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()  # noqa: S324 - §5.1


async def _info(client: RawClient, domain: str, node: str | None) -> Element:
    node_attr = "" if node is None else f" node='{node}'"
    client.send(f"<iq type='get' id='i1' to='{domain}'><query xmlns='{INFO}'{node_attr}/></iq>")
    answer, _ = await client.until("{jabber:client}iq")
    assert answer.get("type") == "result", answer.attrib
    query = answer.find(f"{{{INFO}}}query")
    assert query is not None
    return query


async def test_stream_feature_hash_matches_disco_and_the_node_answers(
    xmpp_server: RunningServer,
) -> None:
    await xmpp_server.add_user("romeo")
    client = await RawClient.connect(xmpp_server)
    try:
        features = await client.login("romeo")
        c = features.find(f"{{{CAPS}}}c")
        assert c is not None
        assert c.get("hash") == "sha-1"
        node, ver = c.get("node"), c.get("ver")
        assert node
        assert ver
        plain = await _info(client, xmpp_server.domain, None)
        assert _ver(plain) == ver
        by_node = await _info(client, xmpp_server.domain, f"{node}#{ver}")
        assert by_node.get("node") == f"{node}#{ver}"
        assert _ver(by_node) == ver
        assert {el.get("var") for el in by_node.findall(f"{{{INFO}}}feature")} == {
            el.get("var") for el in plain.findall(f"{{{INFO}}}feature")
        }
        client.send(
            f"<iq type='get' id='i2' to='{xmpp_server.domain}'>"
            f"<query xmlns='{INFO}' node='{node}#not-the-ver'/></iq>"
        )
        answer, _ = await client.until("{jabber:client}iq")
        assert answer.get("type") == "error"
        assert answer.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None
    finally:
        client.close()
