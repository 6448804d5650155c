"""What each CLI command does, over the same objects the server uses."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from xmpp_video.app import App, StartupError, prepare_database
from xmpp_video.app import serve as serve_app
from xmpp_video.auth.fast import FastTokens
from xmpp_video.cli.errors import CliError
from xmpp_video.config import Settings
from xmpp_video.core.accounts import AccountError, Accounts, parse_account_jid
from xmpp_video.storage.migrate import upgrade
from xmpp_video.storage.sql import open_storage


async def serve(settings: Settings) -> int:
    try:
        return await serve_app(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None


def check(settings: Settings) -> int:
    app = App(settings)
    s = app.settings
    print(f"domain          {s.xmpp_domain}")
    print(f"database        {s.effective_database_url}")
    print(f"c2s (STARTTLS)  {s.bind_host}:{s.c2s_port}")
    if s.c2s_tls_port:
        print(f"c2s (TLS)       {s.bind_host}:{s.c2s_tls_port}")
    if s.http_port:
        print(f"HTTP, ws://     {s.bind_host}:{s.http_port}  (/api, /ws, /xmpp-websocket)")
    if s.https_port:
        print(f"HTTPS, wss://   {s.bind_host}:{s.https_port}")
    components = s.component_secrets
    if s.component_port and components:
        names = ", ".join(sorted(components))
        print(f"components      {s.component_bind_host}:{s.component_port}  (XEP-0114: {names})")
    print(
        f"TLS certificate {s.tls_cert or s.data_dir / 'tls' / 'cert.pem'} "
        f"({'configured' if s.tls_cert else 'self-signed, generated on first start'})"
    )
    print(f"mode            {'production' if s.production else 'development'}")
    print("\nsettings (environment variable, default, meaning):")
    for name, default, doc in Settings.describe():
        print(f"  {name:<26} {default:<12} {doc}")
    return 0


def db_upgrade(settings: Settings) -> int:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(url)
    except Exception as exc:
        raise CliError(f"database upgrade failed: {type(exc).__name__}: {exc}") from None
    print("database is up to date")
    return 0


@asynccontextmanager
async def _accounts(settings: Settings) -> AsyncIterator[Accounts]:
    try:
        await prepare_database(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    storage = await open_storage(settings.effective_database_url)
    try:
        yield Accounts(storage.users, settings.xmpp_domain, settings.scram_iterations)
    finally:
        await storage.close()


async def user_set(settings: Settings, jid_text: str, password: str, *, create: bool) -> int:
    async with _accounts(settings) as accounts:
        try:
            jid = parse_account_jid(jid_text, settings.xmpp_domain)
            if create:
                await accounts.add(jid, password)
            else:
                await accounts.set_password(jid, password)
        except AccountError as exc:
            raise CliError(str(exc)) from None
    print(f"{'created' if create else 'password changed for'} {jid}")
    return 0


async def user_del(settings: Settings, jid_text: str) -> int:
    async with _accounts(settings) as accounts:
        try:
            jid = parse_account_jid(jid_text, settings.xmpp_domain)
            await accounts.delete(jid)
        except AccountError as exc:
            raise CliError(str(exc)) from None
    print(f"deleted {jid}")
    return 0


async def user_fast_revoke(settings: Settings, jid_text: str) -> int:
    """Every FAST token (XEP-0484) of the account stops working; its clients log in with the
    password next time."""
    try:
        jid = parse_account_jid(jid_text, settings.xmpp_domain)
        await prepare_database(settings)
    except (AccountError, StartupError) as exc:
        raise CliError(str(exc)) from None
    storage = await open_storage(settings.effective_database_url)
    try:
        count = await FastTokens(storage.fast_tokens, settings.fast_token_ttl).revoke(str(jid))
    finally:
        await storage.close()
    print(f"revoked {count} FAST token(s) of {jid}")
    return 0


async def user_list(settings: Settings, domain: str | None) -> int:
    async with _accounts(settings) as accounts:
        for jid in await accounts.users.list(domain):
            sys.stdout.write(jid + "\n")
    return 0
