"""XEP-0054 vcard-temp through slixmpp's ``xep_0054`` plugin, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from tests.interop.slix import TIMEOUT, Client, connected
from tests.server_fixtures import RunningServer, make_settings, running_server

pytestmark = pytest.mark.asyncio


def _vcard_client(client: Client) -> Client:
    client.register_plugin("xep_0054")
    return client


async def test_set_and_get_own_and_another_users_vcard(xmpp_server: RunningServer) -> None:
    juliet_jid = await xmpp_server.add_user("juliet")
    romeo_jid = await xmpp_server.add_user("romeo")
    async with (
        connected(xmpp_server, juliet_jid, presence=False) as juliet,
        connected(xmpp_server, romeo_jid, presence=False) as romeo,
    ):
        vcards = _vcard_client(juliet).plugin["xep_0054"]
        _vcard_client(romeo)
        card = vcards.make_vcard()
        card["FN"] = "Juliet Capulet"
        card["NICKNAME"] = "Jules"
        card["DESC"] = "Verona <balcony> & garden — ünïcode"
        await vcards.publish_vcard(card, timeout=TIMEOUT)

        own = (await vcards.get_vcard(juliet_jid, timeout=TIMEOUT))["vcard_temp"]
        assert (own["FN"], own["NICKNAME"], own["DESC"]) == (
            "Juliet Capulet",
            ["Jules"],  # slixmpp: NICKNAME may repeat
            "Verona <balcony> & garden — ünïcode",
        )

        seen = (await romeo.plugin["xep_0054"].get_vcard(juliet_jid, timeout=TIMEOUT))["vcard_temp"]
        assert seen["FN"] == "Juliet Capulet"

        card["FN"] = "Juliet Montague"  # a later set replaces the whole vCard
        del card["NICKNAME"]
        await vcards.publish_vcard(card, timeout=TIMEOUT)
        seen = (await romeo.plugin["xep_0054"].get_vcard(juliet_jid, timeout=TIMEOUT))["vcard_temp"]
        assert seen["FN"] == "Juliet Montague"
        assert seen.xml.find("{vcard-temp}NICKNAME") is None

        # never set: an empty vCard, for oneself and for others
        empty = await romeo.plugin["xep_0054"].get_vcard(romeo_jid, timeout=TIMEOUT)
        assert empty.xml.find("{vcard-temp}vCard") is not None
        assert len(empty.xml.find("{vcard-temp}vCard")) == 0


async def test_vcard_errors(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, vcard_max_size=1024)
    async with running_server(settings) as server:
        juliet_jid = await server.add_user("juliet")
        await server.add_user("romeo")
        async with connected(server, juliet_jid, presence=False) as juliet:
            vcards = _vcard_client(juliet).plugin["xep_0054"]
            card = vcards.make_vcard()
            card["DESC"] = "x" * 900
            await vcards.publish_vcard(card, timeout=TIMEOUT)  # under the limit
            card["DESC"] = "x" * 1100
            for request, condition in (
                (vcards.publish_vcard(card, timeout=TIMEOUT), "not-acceptable"),  # too large
                (
                    vcards.publish_vcard(card, jid="romeo@localhost", timeout=TIMEOUT),
                    "forbidden",
                ),
                (vcards.get_vcard("nobody@localhost", timeout=TIMEOUT), "service-unavailable"),
            ):
                with pytest.raises(IqError) as refused:
                    await request
                assert refused.value.iq["error"]["condition"] == condition
            stored = (await vcards.get_vcard(juliet_jid, timeout=TIMEOUT))["vcard_temp"]
            assert stored["DESC"] == "x" * 900
