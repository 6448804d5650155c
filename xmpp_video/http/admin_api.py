"""The HTTP admin API, what ``xmpp-video calls …`` talks to on a running server.

Every request carries ``Authorization: Bearer <admin token>``: a JWT of kind ``admin``
(``typ: admin``) signed with ``JWT_SECRET``, minted by whoever holds the secret (the CLI mints
one per command from the same configuration) and valid at most ``ADMIN_TOKEN_TTL`` seconds.
Access and refresh tokens are refused here (401), as admin tokens are everywhere else.

| endpoint                          | answer                                                   |
|-----------------------------------|----------------------------------------------------------|
| ``GET /api/admin/calls``          | 200 ``{"calls": [{call_id, caller, callee, state, since, |
|                                   | state_since, media, caller_device, devices,              |
|                                   | answered_by}]}``, oldest first                           |
| ``DELETE /api/admin/calls/{id}``  | 200 ``{"call_id", "ended": true, "end_reason":           |
|                                   | "terminated_by_admin", "ended_by"}`` (``ended_by`` = the |
|                                   | token's ``sub``); 404 ``unknown_call`` if it is not live |
| ``GET /api/admin/calls/stats``    | ``?hours=N`` (default 24) or ``?start=…[&end=…]`` (ISO   |
|                                   | 8601) → 200 the summary of calls/report.py; 400          |
|                                   | ``bad_request`` for a bad period                         |
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import parse_qs, unquote

from xmpp_video.auth.tokens import ADMIN_TOKEN_TTL, Claims, TokenError, TokenKind, TokenSigner
from xmpp_video.calls import report
from xmpp_video.calls.manager import CallManager
from xmpp_video.core.server import Server
from xmpp_video.http.messages import HttpError, Request, Response, json_response

log = logging.getLogger(__name__)

CALLS_PATH = "/api/admin/calls"
STATS_PATH = "/api/admin/calls/stats"
CALL_PREFIX = "/api/admin/calls/"


def _unauthorized(message: str, code: str = "unauthorized") -> HttpError:
    return HttpError(401, code, message, (("WWW-Authenticate", 'Bearer realm="xmpp-video-admin"'),))


def _query_time(values: dict[str, list[str]], name: str) -> dt.datetime | None:
    given = values.get(name)
    if not given or not given[0]:
        return None
    try:
        when = dt.datetime.fromisoformat(given[0])
    except ValueError:
        raise HttpError(
            400, "bad_request", f"{name} must be an ISO 8601 time like 2024-05-01T12:00:00Z"
        ) from None
    return (when if when.utcoffset() is not None else when.replace(tzinfo=dt.UTC)).astimezone(
        dt.UTC
    )


class AdminEndpoints:
    def __init__(self, server: Server, signer: TokenSigner, calls: CallManager) -> None:
        self.server = server
        self.signer = signer
        self.calls = calls

    def authorize(self, request: Request) -> Claims:
        """The claims of the request's admin token, or 401."""
        token = request.bearer_token()
        if token is None:
            raise _unauthorized("send an admin token: Authorization: Bearer <token>")
        try:
            claims = self.signer.verify(token, TokenKind.ADMIN)
        except TokenError as exc:
            raise _unauthorized(str(exc), str(exc.code)) from None
        if claims.exp - claims.iat > ADMIN_TOKEN_TTL:
            raise _unauthorized("admin tokens may last at most a minute", "invalid_token")
        return claims

    async def list_calls(self, request: Request) -> Response:
        self.authorize(request)
        calls = report.live_calls(self.calls.live_calls())
        return json_response(200, {"calls": [c.as_json() for c in calls]})

    async def end_call(self, request: Request) -> Response:
        claims = self.authorize(request)
        call_id = unquote(request.path[len(CALL_PREFIX) :])
        if not self.calls.terminate(call_id, by=claims.sub):
            raise HttpError(404, "unknown_call", f"no live call {call_id}")
        log.info("admin %s ended call %s over HTTP", claims.sub, call_id)
        return json_response(
            200,
            {
                "call_id": call_id,
                "ended": True,
                "end_reason": "terminated_by_admin",
                "ended_by": claims.sub,
            },
        )

    async def stats(self, request: Request) -> Response:
        self.authorize(request)
        values = parse_qs(request.query)
        hours_text = (values.get("hours") or [""])[0]
        try:
            hours = int(hours_text) if hours_text else None
        except ValueError:
            raise HttpError(400, "bad_request", "hours must be a whole number") from None
        try:
            start, end = report.period(
                dt.datetime.now(dt.UTC),
                hours=hours,
                start=_query_time(values, "start"),
                end=_query_time(values, "end"),
            )
        except ValueError as exc:
            raise HttpError(400, "bad_request", str(exc)) from None
        records = await self.server.storage.calls.between(start, end)
        return json_response(200, report.summarize(records, start, end).as_json())
