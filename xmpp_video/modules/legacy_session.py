"""RFC 3921 session establishment: still sent by some clients after bind; answered with result."""

from __future__ import annotations

from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.server import Server
from xmpp_video.stanza import namespaces as ns

SESSION = f"{{{ns.SESSION}}}session"


class LegacySessionModule:
    name = "legacy_session"

    def setup(self, server: Server) -> None:
        server.iq.register(
            "set", SESSION, self.establish, targets=(IqTarget.SERVER, IqTarget.ACCOUNT)
        )

    def stop(self) -> None:
        return None

    async def establish(self, request: IqRequest) -> None:
        return None
