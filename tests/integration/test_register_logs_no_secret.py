"""In-band registration and password changes (XEP-0077) log no password (STYLE.md habit 7).

Everything is logged at DEBUG; passwords travel in the clear inside TLS here (not as SASL
payloads), in a registration, a refused one, a password change and a refused change.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from tests.integration.test_logs_have_no_secrets import _assert_no_secret, _encodings
from tests.interop.ibr import register
from tests.interop.slix import TIMEOUT, connected
from tests.server_fixtures import make_settings, running_server

FIRST = "first s3cret passphrase"
TAKEN = "taken-name s3cret pass"
CHANGED = "changed s3cret passphrase"
TOO_SHORT = "short s3cret"  # 12 characters, under MIN_PASSWORD_LENGTH below


@pytest.mark.asyncio
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_registration_and_password_change_log_no_password(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, database_url: str
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, database_url, registration=True, min_password_length=16)
    async with running_server(settings) as server:
        assert (await register(server, "newcomer", FIRST)).logged_in
        assert (await register(server, "newcomer", TAKEN)).error == "conflict"
        assert (await register(server, "other", TOO_SHORT)).error == "not-acceptable"
        async with connected(server, f"newcomer@{server.domain}", FIRST) as client:
            client.register_plugin("xep_0077")
            ibr = client.plugin["xep_0077"]
            with pytest.raises(IqError):
                await ibr.change_password(TOO_SHORT, timeout=TIMEOUT)
            await ibr.change_password(CHANGED, timeout=TIMEOUT)

    records = list(caplog.records)
    assert any(r.name == "xmpp_video.modules.register" for r in records)
    secrets_: set[str] = set()
    for password in (FIRST, TAKEN, CHANGED, TOO_SHORT):
        secrets_ |= _encodings(password.encode())
    _assert_no_secret(records, secrets_)
