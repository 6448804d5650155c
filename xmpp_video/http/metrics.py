"""GET /metrics: Prometheus text (prometheus-client), read from the server's own counters.

Nothing on a hot path touches prometheus-client: the router and streams bump plain integers
(`Router.routed`, `Server.stats`) and this collector reads them when scraped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from xmpp_video.calls.machine import CallState, EndReason
from xmpp_video.calls.manager import CallManager, Histogram
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
        hibernating = GaugeMetricFamily(
            "xmpp_video_hibernating_sessions",
            "sessions detached and waiting for an XEP-0198 resume",
        )
        hibernating.add_metric([], server.resumption.hibernating)
        yield hibernating
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


def _histogram(name: str, doc: str, histogram: Histogram) -> HistogramMetricFamily:
    finite = histogram.counts[: len(histogram.buckets)]
    buckets = [(f"{b:g}", count) for b, count in zip(histogram.buckets, finite, strict=True)]
    buckets.append(("+Inf", histogram.counts[-1]))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=histogram.total)


class CallCollector(Collector):
    def __init__(self, calls: CallManager) -> None:
        self.calls = calls

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("xmpp_video_calls", "live calls by state", labels=["state"])
        states = Counter(call.state.value for call in self.calls.live_calls())
        for state in CallState:
            if state is not CallState.ENDED:
                active.add_metric([state.value], states.get(state.value, 0))
        yield active
        outcomes = CounterMetricFamily(
            "xmpp_video_call_outcomes", "ended calls by reason", labels=["reason"]
        )
        for reason in EndReason:
            outcomes.add_metric([reason.value], self.calls.stats.outcomes.get(reason.value, 0))
        yield outcomes
        yield _histogram(
            "xmpp_video_call_answer_seconds",
            "call setup: propose to proceed",
            self.calls.stats.answer_time,
        )
        yield _histogram(
            "xmpp_video_call_session_seconds",
            "call setup: proceed to session-accept",
            self.calls.stats.session_time,
        )


class MetricsEndpoint:
    def __init__(self, server: Server, calls: CallManager | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ServerCollector(server))
        if calls is not None:
            self.registry.register(CallCollector(calls))

    async def get(self, request: Request) -> Response:
        return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
