"""XEP-0199 XMPP Ping: the server (and an account, on its behalf) answers pings."""

from __future__ import annotations

from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.server import Server
from xmpp_video.stanza import namespaces as ns

PING = f"{{{ns.PING}}}ping"


class PingModule:
    name = "ping"

    def setup(self, server: Server) -> None:
        server.iq.register("get", PING, self.pong, targets=(IqTarget.SERVER, IqTarget.ACCOUNT))
        server.disco.server_features.add(ns.PING)

    def stop(self) -> None:
        return None

    async def pong(self, request: IqRequest) -> None:
        return None
