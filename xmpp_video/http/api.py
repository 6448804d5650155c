"""The routes of the HTTP listener (SPEC §4), built from the server context."""

from __future__ import annotations

from collections.abc import Callable

from xmpp_video.auth.tokens import TokenSigner
from xmpp_video.calls.manager import CallManager
from xmpp_video.core.server import Server
from xmpp_video.http.admin_api import CALL_PREFIX, CALLS_PATH, STATS_PATH, AdminEndpoints
from xmpp_video.http.auth_api import AuthEndpoints
from xmpp_video.http.health import HealthEndpoint
from xmpp_video.http.messages import Request, Response, json_error
from xmpp_video.http.metrics import MetricsEndpoint
from xmpp_video.http.paths import WEBSOCKET_PATHS
from xmpp_video.http.routes import Routes
from xmpp_video.http.static import add_static_routes
from xmpp_video.http.turn_api import TurnEndpoint
from xmpp_video.http.well_known import HostMeta


async def _upgrade_required(request: Request) -> Response:
    """A plain GET of a WebSocket path (upgrades never reach the routes)."""
    return json_error(
        426,
        "upgrade_required",
        "this is a WebSocket endpoint: connect with subprotocol 'xmpp' (RFC 7395) or none (JSON)",
        (("Upgrade", "websocket"),),
    )


def build_routes(
    server: Server,
    signer: TokenSigner,
    calls: CallManager,
    ports: Callable[[], tuple[int, int]],
) -> Routes:
    routes = Routes()
    routes.observers.append(server.stats.http_response)
    auth = AuthEndpoints(server, signer)
    routes.add("POST", "/api/auth/login", auth.login)
    routes.add("POST", "/api/auth/token", auth.refresh)
    routes.add("GET", "/api/turn/credentials", TurnEndpoint(server, auth).get)
    routes.add("GET", "/health", HealthEndpoint(server).get)
    routes.add("GET", "/metrics", MetricsEndpoint(server, calls).get)
    host_meta = HostMeta(server.domain, ports)
    routes.add("GET", "/.well-known/host-meta", host_meta.xml)
    routes.add("GET", "/.well-known/host-meta.json", host_meta.json)
    admin = AdminEndpoints(server, signer, calls)
    routes.add("GET", CALLS_PATH, admin.list_calls)
    routes.add("GET", STATS_PATH, admin.stats)
    routes.add_prefix("DELETE", CALL_PREFIX, admin.end_call)
    for path in WEBSOCKET_PATHS:
        routes.add("GET", path, _upgrade_required)
    add_static_routes(routes, web_page=server.settings.web_page)
    return routes
