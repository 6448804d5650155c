"""XEP-0156: /.well-known/host-meta (XRD) and host-meta.json advertise the WebSocket URL."""

from __future__ import annotations

from collections.abc import Callable

from xmpp_video.http.host_meta import host_meta_json, host_meta_xml, websocket_urls
from xmpp_video.http.messages import Request, Response

CORS = (("Access-Control-Allow-Origin", "*"), ("Vary", "Host"))


class HostMeta:
    """``ports()`` gives the (HTTP, HTTPS) ports actually listened on; 0 = off."""

    def __init__(self, domain: str, ports: Callable[[], tuple[int, int]]) -> None:
        self.domain = domain
        self.ports = ports

    def _urls(self, request: Request) -> list[str]:
        http_port, https_port = self.ports()
        return websocket_urls(
            request.headers.get("host"), self.domain, http_port, https_port, request.secure
        )

    async def xml(self, request: Request) -> Response:
        return Response(200, host_meta_xml(self._urls(request)), "application/xrd+xml", CORS)

    async def json(self, request: Request) -> Response:
        return Response(200, host_meta_json(self._urls(request)), "application/json", CORS)
