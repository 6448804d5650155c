import asyncio
import aioxmpp
import pytest

from tests.interop.aiox import connected
from tests.interop.test_aioxmpp_roster import _subscribe
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_debug(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        await _subscribe(romeo, juliet)
        await asyncio.sleep(0.5)
        print("JULIET EVENTS", [(k, str(i.jid), i.subscription) for k, i in juliet.roster_events.pending()])
        print("JULIET ITEMS", {str(j): i.subscription for j, i in juliet.roster.items.items()})
        r = await juliet.send(aioxmpp.IQ(type_=aioxmpp.IQType.GET, payload=aioxmpp.roster.xso.Query()))
        print("JULIET GET", [(str(i.jid), i.subscription) for i in r.items])
        print("ROMEO ITEMS", {str(j): (i.subscription, i.ask) for j, i in romeo.roster.items.items()})
