"""GET /metrics: Prometheus text (prometheus-client), read from the server's own counters.

Nothing on a hot path touches prometheus-client: the router and streams bump plain integers
(`Router.routed`, `Server.stats`) and this collector reads them when scraped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from xmpp_video.core.server import Server
from xmpp_video.http.messages import Request, Response

TRANSPORTS = ("tcp", "websocket", "json")


class ServerCollector(Collector):
    def __init__(self, server: Server) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        server = self.server
        connections = GaugeMetricFamily(
            "xmpp_video_connections", "open client streams by transport", labels=["transport"]
        )
        by_transport = Counter(
            getattr(stream, "transport_name", "tcp") for stream in server.connections
        )
        for transport in sorted(set(TRANSPORTS) | set(by_transport)):
            connections.add_metric([transport], by_transport.get(transport, 0))
        yield connections
        sessions = GaugeMetricFamily("xmpp_video_sessions", "bound resources on this node")
        sessions.add_metric([], sum(1 for s in server.connections if s.jid is not None))
        yield sessions
        yield CounterMetricFamily(
            "xmpp_video_stanzas_routed", "stanzas routed", value=server.router.routed
        )
        yield CounterMetricFamily(
            "xmpp_video_auth_failures",
            "failed authentications (SASL and HTTP login)",
            value=server.stats.auth_failures,
        )
        requests = CounterMetricFamily(
            "xmpp_video_http_requests", "HTTP responses by status", labels=["status"]
        )
        for status, count in sorted(server.stats.http_responses.items()):
            requests.add_metric([str(status)], count)
        yield requests


class MetricsEndpoint:
    def __init__(self, server: Server) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ServerCollector(server))

    async def get(self, request: Request) -> Response:
        return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
