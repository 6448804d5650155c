"""GET /api/turn/credentials: TURN REST API credentials for the bearer of an access token.

With no TURN_URIS configured the answer still carries credentials, with an empty ``uris``
list: a client then simply sets up calls without a relay.
"""

from __future__ import annotations

import time

from xmpp_video.core.server import Server
from xmpp_video.http.auth_api import AuthEndpoints
from xmpp_video.http.messages import Request, Response, json_response
from xmpp_video.turn import turn_credentials


class TurnEndpoint:
    def __init__(self, server: Server, auth: AuthEndpoints) -> None:
        self.server = server
        self.auth = auth

    async def get(self, request: Request) -> Response:
        claims = self.auth.authenticate(request)
        s = self.server.settings
        creds = turn_credentials(
            s.turn_secret,
            f"{claims.sub}@{self.server.domain}",
            s.turn_ttl,
            s.turn_uri_list,
            time.time(),
        )
        return json_response(
            200,
            {
                "username": creds.username,
                "password": creds.password,
                "ttl": creds.ttl,
                "uris": list(creds.uris),
            },
        )
