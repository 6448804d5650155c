"""TURN credentials for the TURN REST API scheme that coturn's ``use-auth-secret`` checks.

One pure function shared by the HTTP API (``GET /api/turn/credentials``, SPEC §4) and XEP-0215
(external service discovery). The TURN server and this server share one secret (coturn's
``static-auth-secret`` = our ``TURN_SECRET``) and never talk to each other:

* username = ``<expiry-unix-time>:<bare JID>`` (SPEC §10; coturn's default separator ``:``);
* password = base64(HMAC-SHA1(secret, username)).

coturn recomputes the HMAC from the username it receives and refuses the allocation once the
expiry time has passed, so a leaked credential is worthless after ``ttl`` seconds and a client
cannot extend it without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TurnCredentials", "turn_credentials"]


@dataclass(frozen=True, slots=True)
class TurnCredentials:
    """What a client needs to allocate a relay: ``ttl`` seconds valid, until ``expires``."""

    username: str
    """``<expires>:<bare JID>``"""
    password: str
    """base64(HMAC-SHA1(secret, username)), standard alphabet with padding"""
    ttl: int
    """seconds of validity the credentials were issued for"""
    expires: int
    """Unix time (seconds) after which coturn refuses them"""
    uris: tuple[str, ...]
    """``turn:``/``turns:``/``stun:`` URIs the credentials are for"""


def turn_credentials(
    secret: str, user: str, ttl: int, uris: Sequence[str], now: float
) -> TurnCredentials:
    """Credentials for ``user`` (a bare JID) valid ``ttl`` seconds from ``now`` (Unix time).

    ``secret`` is TURN_SECRET (coturn's ``static-auth-secret``); ``now`` is passed in (callers
    use ``time.time()``) so that the function stays pure. Raises ``ValueError`` for an empty
    secret or user, or a ``ttl`` below one second.
    """
    if not secret:
        raise ValueError("TURN secret is empty")
    if not user:
        raise ValueError("TURN user is empty")
    if ttl < 1:
        raise ValueError(f"TURN ttl must be at least 1 second, got {ttl}")
    expires = int(now) + ttl
    username = f"{expires}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    password = base64.b64encode(digest).decode("ascii")
    return TurnCredentials(username, password, ttl, expires, tuple(uris))
