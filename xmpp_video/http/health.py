"""GET /health: 200 when this node and its database answer, 503 naming the failing check."""

from __future__ import annotations

import asyncio
import logging

from xmpp_video.core.server import Server
from xmpp_video.http.messages import Request, Response, json_response

log = logging.getLogger(__name__)
DATABASE_TIMEOUT_SECONDS = 2.0


class HealthEndpoint:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def get(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
                await self.server.storage.ping()
            checks["database"] = "ok"
        except TimeoutError:
            checks["database"] = f"no answer within {DATABASE_TIMEOUT_SECONDS:g} s"
        except Exception as exc:  # any driver error means the same: the database is down
            log.warning("health: database check failed: %s", type(exc).__name__)
            checks["database"] = f"unavailable ({type(exc).__name__})"
        failing = [name for name, state in checks.items() if state != "ok"]
        if failing:
            return json_response(
                503,
                {
                    "status": "unavailable",
                    "error": "unhealthy",
                    "message": f"failing check: {', '.join(failing)}",
                    "failing": failing,
                    "checks": checks,
                },
            )
        return json_response(200, {"status": "ok", "node": self.server.node_id, "checks": checks})
