"""POST /api/auth/login and POST /api/auth/token (SPEC §4), and bearer-token checks.

Login answers the same ``invalid_credentials`` whether the user is unknown or the password
wrong, after the same key derivation (`Accounts.check_password`), so neither the message nor
the timing tells who exists. Rate limits: every attempt counts per client address; failures
count per username (so that a user who logs in often is not locked out by their own
successes). Refresh tokens rotate: each use marks the token used and issues a new one of the
same family; a used or revoked token coming back means it leaked, so the whole family is
revoked (RFC 6819 §5.2.2.3).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time

from xmpp_video.auth.rate_limit import RateLimiter
from xmpp_video.auth.tokens import Claims, TokenError, TokenKind, TokenSigner
from xmpp_video.core.server import Server
from xmpp_video.http.messages import HttpError, Request, Response, json_body, json_response
from xmpp_video.jid import InvalidJID, prep_local
from xmpp_video.storage.repositories import RefreshUse

log = logging.getLogger(__name__)
RATE_PERIOD_SECONDS = 60.0
_NOBODY = "@"  # not a valid local part: no stored keys, the dummy derivation runs


def _utc(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def _retry_after(seconds: float) -> HttpError:
    wait = max(1, math.ceil(seconds))
    return HttpError(
        429,
        "rate_limited",
        f"too many login attempts; retry in {wait} s",
        (("Retry-After", str(wait)),),
    )


class AuthEndpoints:
    def __init__(self, server: Server, signer: TokenSigner) -> None:
        s = server.settings
        self.server = server
        self.signer = signer
        self.per_address = RateLimiter(s.login_attempts_per_address, RATE_PERIOD_SECONDS)
        self.per_user = RateLimiter(s.login_attempts_per_user, RATE_PERIOD_SECONDS)

    def _username(self, text: str) -> str | None:
        local, at, domain = text.partition("@")
        if at and domain.lower() != self.server.domain:
            return None
        try:
            return prep_local(local)
        except InvalidJID:
            return None

    async def login(self, request: Request) -> Response:
        fields = json_body(request, "username", "password")
        wait = self.per_address.hit(request.client)
        if wait is not None:
            raise _retry_after(wait)
        username = self._username(fields["username"])
        user_key = username or fields["username"][:64]
        wait = self.per_user.check(user_key)
        if wait is not None:
            raise _retry_after(wait)
        ok = await self.server.accounts.check_password(username or _NOBODY, fields["password"])
        if not ok or username is None:
            self.per_user.hit(user_key)
            self.server.stats.auth_failures += 1
            raise HttpError(401, "invalid_credentials", "wrong username or password")
        return json_response(200, await self._issue(username, family=None))

    async def refresh(self, request: Request) -> Response:
        token = json_body(request, "refresh_token")["refresh_token"]
        claims = self._verify(token, TokenKind.REFRESH)
        assert claims.family is not None
        outcome = await self.server.storage.refresh_tokens.use(claims.jti, _utc(int(time.time())))
        if outcome.status is RefreshUse.REUSED:
            await self.server.storage.refresh_tokens.revoke_family(claims.family)
            log.warning("refresh token reused for %s: family revoked", claims.sub)
            raise HttpError(401, "invalid_token", "this refresh token was already used or revoked")
        if not outcome.ok:
            raise HttpError(401, "invalid_token", "unknown or expired refresh token")
        if not await self.server.accounts.exists(claims.sub):
            await self.server.storage.refresh_tokens.revoke_family(claims.family)
            raise HttpError(401, "invalid_token", "this account no longer exists")
        return json_response(200, await self._issue(claims.sub, family=claims.family))

    async def _issue(self, username: str, family: str | None) -> dict[str, object]:
        access, access_claims = self.signer.issue_access(username)
        refresh, refresh_claims = self.signer.issue_refresh(username, family)
        assert refresh_claims.family is not None
        await self.server.storage.refresh_tokens.add(
            refresh_claims.jti,
            refresh_claims.family,
            username,
            _utc(refresh_claims.iat),
            _utc(refresh_claims.exp),
        )
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": access_claims.exp - access_claims.iat,
            "jid": f"{username}@{self.server.domain}",
        }

    def _verify(self, token: str, kind: TokenKind) -> Claims:
        try:
            return self.signer.verify(token, kind)
        except TokenError as exc:
            raise HttpError(401, str(exc.code), str(exc)) from None

    def authenticate(self, request: Request) -> Claims:
        """The claims of the request's ``Authorization: Bearer`` access token, or 401."""
        token = request.bearer_token()
        if token is None:
            raise HttpError(
                401,
                "unauthorized",
                "send an access token: Authorization: Bearer <token>",
                (("WWW-Authenticate", 'Bearer realm="xmpp-video"'),),
            )
        return self._verify(token, TokenKind.ACCESS)
