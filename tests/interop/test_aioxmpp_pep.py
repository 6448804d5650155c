"""PEP through a second client stack: aioxmpp's AvatarService (XEP-0084 over its PEPClient),
with its EntityCapsService announcing ``urn:xmpp:avatar:metadata+notify`` (XEP-0115)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aioxmpp
import aioxmpp.avatar
import pytest

from tests.interop.aiox import Inbox, Session, make_client, start
from tests.interop.pep import befriend
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio

# not a real PNG: aioxmpp takes the bytes as they are (id = SHA-1 of them)
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
METADATA = "urn:xmpp:avatar:metadata"


@dataclass
class AvatarUser:
    session: Session
    avatars: Any
    changes: Inbox[tuple[str, Any]]  # (jid, metadata) from on_metadata_changed
    events: Inbox[tuple[str, str]]  # (sender, node) of every pubsub event message


async def _avatar_user(server: RunningServer, jid: str) -> AvatarUser:
    client = make_client(server, jid)
    client.summon(aioxmpp.EntityCapsService)
    avatars = client.summon(aioxmpp.avatar.AvatarService)
    changes: Inbox[tuple[str, Any]] = Inbox()
    events: Inbox[tuple[str, str]] = Inbox()
    avatars.on_metadata_changed.connect(lambda who, metadata: changes.put((str(who), metadata)))
    client.summon(aioxmpp.PubSubClient).on_item_published.connect(
        lambda who, node, _item, **_kw: events.put((str(who), node))
    )
    return AvatarUser(await start(client), avatars, changes, events)


async def test_avatar_published_by_aioxmpp_reaches_a_contact(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    await befriend(xmpp_server, romeo, juliet)
    r = await _avatar_user(xmpp_server, romeo)
    j = await _avatar_user(xmpp_server, juliet)
    try:
        await r.session.go_available()
        await j.session.go_available()
        avatar_set = aioxmpp.avatar.AvatarSet()
        avatar_set.add_avatar_image("image/png", image_bytes=IMAGE)
        await r.avatars.publish_avatar_set(avatar_set)

        # a PEP event from Romeo's bare JID, which Juliet's caps asked for (+notify)
        assert await j.events.take() == (romeo, METADATA)
        _who, metadata = await j.changes.take(lambda change: change[0] == romeo)
        descriptors = list(metadata)
        assert [d.id_ for d in descriptors] == [avatar_set.png_id]
        assert await descriptors[0].get_image_bytes() == IMAGE  # read back over pubsub
    finally:
        await j.session.stop()
        await r.session.stop()
