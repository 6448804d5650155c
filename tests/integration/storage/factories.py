"""Values for storage tests."""

from __future__ import annotations

import datetime as dt

from xmpp_video.storage.repositories import ScramHash, SessionRow, StoredScram, Transport

DOMAIN = "example.org"
T0 = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


def scram(seed: int, iterations: int = 4096) -> StoredScram:
    return StoredScram(
        salt=bytes([seed]) * 16,
        iterations=iterations,
        stored_key=bytes([seed + 1]) * 32,
        server_key=bytes([seed + 2]) * 32,
    )


def both_creds(seed: int = 1) -> dict[str, StoredScram]:
    return {ScramHash.SHA1: scram(seed), ScramHash.SHA256: scram(seed + 10, 8192)}


def session_row(
    bare_jid: str = f"alice@{DOMAIN}",
    resource: str = "phone",
    node_id: str = "node-a",
    transport: Transport = Transport.TCP,
    priority: int = 0,
    connected_since: dt.datetime = T0,
) -> SessionRow:
    return SessionRow(
        bare_jid=bare_jid,
        resource=resource,
        node_id=node_id,
        transport=transport,
        connected_since=connected_since,
        priority=priority,
    )
