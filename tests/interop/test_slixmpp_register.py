"""XEP-0077 in-band registration through slixmpp's ``xep_0077`` plugin, on SQLite and PostgreSQL.

Off by default (no stream feature); on: register then log in on the same stream, ``conflict``,
``not-acceptable`` for bad names and passwords and past the per-address rate limit; password
change and account removal for logged-in users.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from slixmpp.exceptions import IqError

from tests.interop.ibr import register
from tests.interop.slix import TIMEOUT, connected, make_client
from tests.server_fixtures import PASSWORD, RunningServer, make_settings, running_server
from xmpp_video.storage.repositories import RosterItem, Subscription

pytestmark = pytest.mark.asyncio

NEW_PASSWORD = "a brand new passphrase"


@pytest_asyncio.fixture
async def open_server(tmp_path: Path, database_url: str) -> AsyncIterator[RunningServer]:
    settings = make_settings(tmp_path, database_url, registration=True, registrations_per_address=4)
    async with running_server(settings) as server:
        yield server


async def test_registration_is_off_by_default(xmpp_server: RunningServer) -> None:
    attempt = await register(xmpp_server, "newcomer", PASSWORD)
    assert not attempt.offered
    assert not attempt.form, "the registration form was served"
    assert not attempt.logged_in
    assert not await xmpp_server.server.accounts.exists("newcomer")


async def test_register_then_log_in(open_server: RunningServer) -> None:
    attempt = await register(open_server, "Newcomer", PASSWORD)
    assert attempt.offered
    assert attempt.form == {"username", "password"}
    assert attempt.error is None
    assert attempt.logged_in
    assert await open_server.server.accounts.exists("newcomer")  # prepared: case-folded
    async with connected(open_server, f"newcomer@{open_server.domain}") as again:
        assert again.boundjid.bare == f"newcomer@{open_server.domain}"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("", PASSWORD),
        ("newcomer", ""),
        ("new comer", PASSWORD),  # a space is no local-part character
        ("x" * 1024, PASSWORD),
        ("newcomer", "short"),  # under MIN_PASSWORD_LENGTH
    ],
    ids=["no-username", "no-password", "space", "too-long", "short-password"],
)
async def test_bad_names_and_passwords_are_not_acceptable(
    open_server: RunningServer, username: str, password: str
) -> None:
    for _ in range(5):  # more than the rate limit: refused before it counts
        attempt = await register(open_server, username, password)
        assert (attempt.error, attempt.logged_in) == ("not-acceptable", False)
    assert await open_server.server.storage.users.count() == 0


async def test_taken_name_is_a_conflict_and_attempts_are_rate_limited(
    open_server: RunningServer,
) -> None:
    await open_server.add_user("juliet")
    assert (await register(open_server, "juliet", "another password")).error == "conflict"
    assert (await register(open_server, "JULIET", "another password")).error == "conflict"
    assert (await register(open_server, "romeo", PASSWORD)).logged_in
    assert (await register(open_server, "mercutio", PASSWORD)).logged_in

    refused = await register(open_server, "tybalt", PASSWORD)  # 5th attempt, limit is 4/hour
    assert (refused.error, refused.error_type) == ("not-acceptable", "wait")
    assert not await open_server.server.accounts.exists("tybalt")
    # the old password still works for juliet
    async with connected(open_server, f"juliet@{open_server.domain}", presence=False):
        pass


async def test_logged_in_user_sees_registration_and_changes_password(
    xmpp_server: RunningServer,
) -> None:
    jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, jid, presence=False) as juliet:
        juliet.register_plugin("xep_0077")
        ibr = juliet.plugin["xep_0077"]
        info = await ibr.get_registration(timeout=TIMEOUT)
        assert info["register"]["registered"]
        assert info["register"]["username"] == "juliet"

        for password, condition in (("short", "not-acceptable"), ("", "bad-request")):
            with pytest.raises(IqError) as refused:
                await ibr.change_password(password, timeout=TIMEOUT)
            assert refused.value.iq["error"]["condition"] == condition
        other = juliet.make_iq_set()
        other["register"]["username"] = "romeo"
        other["register"]["password"] = NEW_PASSWORD
        with pytest.raises(IqError) as refused:
            await other.send(timeout=TIMEOUT)
        assert refused.value.iq["error"]["condition"] == "forbidden"

        await ibr.change_password(NEW_PASSWORD, timeout=TIMEOUT)

    async with connected(xmpp_server, jid, NEW_PASSWORD, presence=False) as again:
        assert again.boundjid.bare == jid
    old = make_client(xmpp_server, jid, PASSWORD)
    old.connect("127.0.0.1", xmpp_server.c2s_port)
    try:
        await asyncio.wait_for(old.auth_failed.wait(), TIMEOUT)
    finally:
        old.abort()


async def test_account_removal(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    storage = xmpp_server.server.storage
    for owner, contact in ((romeo_jid, juliet_jid), (juliet_jid, romeo_jid)):
        await storage.roster.upsert(RosterItem(owner, contact, subscription=Subscription.BOTH))
    await storage.vcards.set(juliet_jid, "<vCard xmlns='vcard-temp'/>")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, f"{juliet_jid}/balcony") as juliet,
        connected(xmpp_server, f"{juliet_jid}/chamber", presence=False) as chamber,
    ):
        await romeo.next_presence(from_=juliet.boundjid.full, type_="available")
        juliet.register_plugin("xep_0077")
        await juliet.plugin["xep_0077"].cancel_registration(timeout=TIMEOUT)

        # every session of the account ends with <not-authorized/>
        for client in (juliet, chamber):
            await asyncio.wait_for(client.disconnected_event.wait(), TIMEOUT)
            assert client.stream_errors == ["not-authorized"]
        # Romeo loses her presence and subscription
        await romeo.next_presence(from_=juliet.boundjid.full, type_="unavailable")
        await _until(
            lambda: romeo.client_roster[juliet_jid]["subscription"] == "none",
        )
    assert not await xmpp_server.server.accounts.exists("juliet")
    assert await storage.roster.get_roster(juliet_jid) == []
    assert await storage.vcards.get(juliet_jid) is None
    romeo_item = await storage.roster.get_item(romeo_jid, juliet_jid)
    assert romeo_item is not None
    assert romeo_item.subscription == Subscription.NONE


async def _until(predicate: Any, timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)
