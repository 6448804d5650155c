"""aioxmpp users query the server: disco#info, XEP-0199 ping, XEP-0092 version, unknown IQs.

Real sockets and TLS, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio

import aioxmpp
import aioxmpp.ping
import aioxmpp.version
import aioxmpp.xso
import pytest

from tests.interop.aiox import TIMEOUT, connected
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio


class NoSuchQuery(aioxmpp.xso.XSO):  # type: ignore[misc]
    """A payload no server knows."""

    TAG = ("urn:example:xmpp-video:no-such-query", "query")


aioxmpp.IQ.as_payload_class(NoSuchQuery)


async def test_disco_info_of_the_server(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, presence=False) as romeo:
        info = await romeo.disco.query_info(aioxmpp.JID.fromstr(xmpp_server.domain), timeout=10)
        features = set(info.features)
        assert {
            "http://jabber.org/protocol/disco#info",
            "urn:xmpp:ping",
            "jabber:iq:version",
        } <= features
        identities = {(identity.category, identity.type_) for identity in info.identities}
        assert ("server", "im") in identities


async def test_ping_the_server(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, presence=False) as romeo:
        # a result returns; an error reply raises aioxmpp.errors.XMPPError; silence times out
        async with asyncio.timeout(TIMEOUT):
            await aioxmpp.ping.ping(romeo.client, aioxmpp.JID.fromstr(xmpp_server.domain))


async def test_software_version_of_the_server(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, presence=False) as romeo:
        # query_version wants a stream; the client has the same send() without the deprecation
        async with asyncio.timeout(TIMEOUT):
            version = await aioxmpp.version.query_version(
                romeo.client, aioxmpp.JID.fromstr(xmpp_server.domain)
            )
        assert version.name == "xmpp-video"
        assert version.version


@pytest.mark.parametrize(
    "target",
    ["server", "own bare JID", "contact bare JID", "offline full JID", "nonexistent user"],
)
async def test_unknown_iq_payload_is_service_unavailable(
    xmpp_server: RunningServer, target: str
) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    to = {
        "server": xmpp_server.domain,
        "own bare JID": romeo_jid,
        "contact bare JID": juliet_jid,
        "offline full JID": f"{juliet_jid}/nowhere",
        "nonexistent user": f"nobody@{xmpp_server.domain}",
    }[target]
    async with connected(xmpp_server, romeo_jid, presence=False) as romeo:
        request = aioxmpp.IQ(
            type_=aioxmpp.IQType.GET, to=aioxmpp.JID.fromstr(to), payload=NoSuchQuery()
        )
        with pytest.raises(aioxmpp.XMPPCancelError) as error:
            await romeo.send(request)
        assert error.value.condition == aioxmpp.ErrorCondition.SERVICE_UNAVAILABLE
        # the stream survives: the next request is answered
        async with asyncio.timeout(TIMEOUT):
            await aioxmpp.ping.ping(romeo.client, aioxmpp.JID.fromstr(xmpp_server.domain))
