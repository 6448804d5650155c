"""XEP-0280 Message Carbons as slixmpp's own plugin (``xep_0280``) lives them.

Romeo and Juliet each have several devices (``/phone``, ``/laptop``…). Real sockets and TLS, on
SQLite and PostgreSQL. Absence ("this device got no copy") is shown without sleeping: a later
marker (a headline, which is never copied) to the same device must arrive first, since the server
writes to a session in the order it routes (a copy is written while the original is routed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree.ElementTree import Element, fromstring

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError

from tests.interop.slix import TIMEOUT, Client, connected
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio

CARBONS = "urn:xmpp:carbons:2"
JMI = "urn:xmpp:jingle-message:0"
PROPOSE = (
    f"<propose xmlns='{JMI}' id='call-1'>"
    "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>"
)


@dataclass
class Device:
    """A logged-in client and the carbons slixmpp's plugin reported to it."""

    client: Client
    sent: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    received: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    @property
    def jid(self) -> str:
        return str(self.client.boundjid.full)

    async def next_sent(self) -> Any:
        return await asyncio.wait_for(self.sent.get(), TIMEOUT)

    async def next_received(self) -> Any:
        return await asyncio.wait_for(self.received.get(), TIMEOUT)

    async def no_carbon_before(self, marker: str) -> None:
        """The next plain message is ``marker``, and no carbon came before it."""
        message = await self.client.next_message()
        assert message["body"] == marker
        assert self.sent.empty(), f"unexpected sent carbon: {self.sent.get_nowait()}"
        assert self.received.empty(), f"unexpected received carbon: {self.received.get_nowait()}"


@asynccontextmanager
async def device(
    server: RunningServer, jid: str, *, enable: bool = True, presence: bool = True
) -> AsyncIterator[Device]:
    async with connected(server, jid, presence=presence) as client:
        client.register_plugin("xep_0280")
        dev = Device(client)
        client.add_event_handler("carbon_sent", dev.sent.put_nowait)
        client.add_event_handler("carbon_received", dev.received.put_nowait)
        if enable:
            await client.plugin["xep_0280"].enable(timeout=TIMEOUT)
        yield dev


def _send(
    sender: Device,
    to: str,
    body: str | None,
    *extra: str,
    type_: Literal["chat", "normal", "headline"] = "chat",
) -> None:
    message = sender.client.make_message(mto=to, mbody=body, mtype=type_)
    for xml in extra:
        message.xml.append(fromstring(xml))
    message.send()


def _marker(sender: Device, to: Device) -> None:
    """A headline: delivered to that device alone, never carbon-copied (not instant messaging)."""
    _send(sender, to.jid, "marker", type_="headline")


def _forwarded_payload(carbon: Any, kind: str) -> Element:
    """The original message inside a carbon, as XML."""
    xml: Element = carbon.xml
    path = f"{{{CARBONS}}}{kind}/{{urn:xmpp:forward:0}}forwarded/{{jabber:client}}message"
    original = xml.find(path)
    assert original is not None, "the carbon wraps the original message per XEP-0297"
    return original


async def test_sent_copy_reaches_the_senders_other_device(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/laptop") as laptop,
        device(xmpp_server, f"{juliet}/balcony", enable=False) as balcony,
    ):
        _send(laptop, juliet, "wherefore art thou")
        assert (await balcony.client.next_message())["body"] == "wherefore art thou"
        carbon = await phone.next_sent()
        assert str(carbon["from"]) == romeo, "a carbon comes from the user's own bare JID"
        assert str(carbon["to"]) == phone.jid
        assert carbon["type"] == "chat"
        original = carbon["carbon_sent"]
        assert original["body"] == "wherefore art thou"
        assert str(original["from"]) == laptop.jid
        assert str(original["to"]) == juliet
        # the sending device itself gets no copy of its own message
        _marker(balcony, laptop)
        await laptop.no_carbon_before("marker")


async def test_received_copy_reaches_the_other_devices(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/laptop") as laptop,
        device(xmpp_server, f"{juliet}/balcony", enable=False) as balcony,
    ):
        _send(balcony, phone.jid, "to your phone only")
        direct = await phone.client.next_message()
        assert direct["body"] == "to your phone only"
        carbon = await laptop.next_received()
        assert str(carbon["from"]) == romeo
        assert str(carbon["to"]) == laptop.jid
        original = carbon["carbon_received"]
        assert original["body"] == "to your phone only"
        assert str(original["from"]) == balcony.jid
        assert str(original["to"]) == phone.jid
        # the device the message was addressed to has it once, not again as a carbon
        _marker(balcony, phone)
        await phone.no_carbon_before("marker")


async def test_bare_jid_message_is_not_duplicated(xmpp_server: RunningServer) -> None:
    """Both devices at priority 0 get the message itself (RFC 6121), so neither gets a carbon;
    a device below priority 0 gets it only as a carbon."""
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/laptop") as laptop,
        device(xmpp_server, f"{romeo}/tablet") as tablet,
        device(xmpp_server, f"{juliet}/balcony", enable=False) as balcony,
    ):
        tablet.client.send_presence(ppriority=-1)
        while (await tablet.client.next_presence(from_=tablet.jid))["priority"] != -1:
            pass
        _send(balcony, romeo, "to you")
        carbon = await tablet.next_received()
        assert carbon["carbon_received"]["body"] == "to you"
        for dev in (phone, laptop):
            assert (await dev.client.next_message())["body"] == "to you"
            _marker(balcony, dev)
            await dev.no_carbon_before("marker")
        _marker(balcony, tablet)
        await tablet.no_carbon_before("marker")


async def test_disable_stops_copies(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/laptop") as laptop,
        device(xmpp_server, f"{juliet}/balcony", enable=False) as balcony,
    ):
        _send(laptop, juliet, "while enabled")
        assert (await phone.next_sent())["carbon_sent"]["body"] == "while enabled"
        await phone.client.plugin["xep_0280"].disable(timeout=TIMEOUT)
        _send(laptop, juliet, "after disable")
        assert (await balcony.client.next_message())["body"] == "while enabled"
        assert (await balcony.client.next_message())["body"] == "after disable"
        _marker(balcony, phone)
        await phone.no_carbon_before("marker")


async def test_device_without_carbons_gets_no_copies(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/laptop", enable=False) as laptop,
        device(xmpp_server, f"{romeo}/desk") as desk,
        device(xmpp_server, f"{juliet}/balcony", enable=False) as balcony,
    ):
        _send(desk, juliet, "sent from the desk")
        _send(balcony, phone.jid, "to the phone")
        assert (await phone.next_sent())["carbon_sent"]["body"] == "sent from the desk"
        assert (await desk.next_received())["carbon_received"]["body"] == "to the phone"
        _marker(balcony, laptop)
        await laptop.no_carbon_before("marker")


async def test_received_copies_only_to_available_devices(xmpp_server: RunningServer) -> None:
    """A device that sent no presence sees what its user sends, but what comes in reaches it
    from offline storage once it is online, not twice."""
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/idle", presence=False) as idle,
        device(xmpp_server, f"{juliet}/balcony", enable=False) as balcony,
    ):
        _send(balcony, phone.jid, "incoming")
        _send(phone, juliet, "outgoing")
        assert (await idle.next_sent())["carbon_sent"]["body"] == "outgoing"
        _marker(balcony, idle)
        await idle.no_carbon_before("marker")


@pytest.mark.parametrize(
    "suppress",
    [f"<private xmlns='{CARBONS}'/>", "<no-copy xmlns='urn:xmpp:hints'/>"],
    ids=["private", "no-copy"],
)
async def test_private_and_no_copy_are_not_copied(
    xmpp_server: RunningServer, suppress: str
) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/laptop") as laptop,
        device(xmpp_server, f"{juliet}/balcony") as balcony,
        device(xmpp_server, f"{juliet}/garden") as garden,
    ):
        _send(laptop, balcony.jid, "for your eyes only", suppress)
        assert (await balcony.client.next_message())["body"] == "for your eyes only"
        _send(laptop, balcony.jid, "not private")
        assert (await phone.next_sent())["carbon_sent"]["body"] == "not private"
        assert (await garden.next_received())["carbon_received"]["body"] == "not private"


async def test_jmi_with_no_copy_is_still_copied(xmpp_server: RunningServer) -> None:
    """Every device of both parties follows a call (SPEC §6), whatever the hints."""
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    no_copy = "<no-copy xmlns='urn:xmpp:hints'/>"
    async with (
        device(xmpp_server, f"{romeo}/phone") as phone,
        device(xmpp_server, f"{romeo}/laptop") as laptop,
        device(xmpp_server, f"{juliet}/balcony") as balcony,
        device(xmpp_server, f"{juliet}/garden") as garden,
    ):
        _send(laptop, balcony.jid, None, PROPOSE, no_copy)
        copies = [(await phone.next_sent(), "sent"), (await garden.next_received(), "received")]
        for carbon, kind in copies:
            original = _forwarded_payload(carbon, kind)
            propose = original.find(f"{{{JMI}}}propose")
            assert propose is not None, "the copy carries the call proposal"
            assert propose.get("id") == "call-1"
            description = propose.find("{urn:xmpp:jingle:apps:rtp:1}description")
            assert description is not None
            assert description.get("media") == "audio"
            assert original.get("to") == balcony.jid
        # a non-JMI message with the same hint is not copied
        _send(laptop, balcony.jid, "hinted", no_copy)
        _send(laptop, balcony.jid, "plain")
        assert (await phone.next_sent())["carbon_sent"]["body"] == "plain"


async def test_enable_for_another_account_is_not_allowed(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone", enable=False) as phone,
        device(xmpp_server, f"{juliet}/balcony", enable=False),
    ):
        iq = phone.client.make_iq_set(ito=juliet)
        iq.enable("carbon_enable")
        with pytest.raises(IqError) as raised:
            await iq.send(timeout=TIMEOUT)
        assert raised.value.iq["error"]["condition"] == "not-allowed"


async def test_enable_addressed_to_the_server(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    juliet = await xmpp_server.add_user("juliet")
    async with (
        device(xmpp_server, f"{romeo}/phone", enable=False) as phone,
        device(xmpp_server, f"{romeo}/laptop", enable=False) as laptop,
    ):
        iq = phone.client.make_iq_set(ito=xmpp_server.domain)
        iq.enable("carbon_enable")
        result = await iq.send(timeout=TIMEOUT)
        assert result["type"] == "result"
        _send(laptop, juliet, "stored for juliet")
        assert (await phone.next_sent())["carbon_sent"]["body"] == "stored for juliet"


async def test_disco_lists_carbons(xmpp_server: RunningServer) -> None:
    romeo = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, romeo) as client:
        info = await client.plugin["xep_0030"].get_info(
            jid=JID(xmpp_server.domain), timeout=TIMEOUT
        )
        features = info["disco_info"]["features"]
        assert CARBONS in features
        assert "urn:xmpp:carbons:rules:0" in features
