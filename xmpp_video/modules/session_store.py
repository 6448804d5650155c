"""Persists bound sessions in `user_session` (jid, resource, node, transport, since, priority),
and cleans the rows a crashed run of this node left behind when the node starts."""

from __future__ import annotations

import datetime as dt
import logging

from xmpp_video.core.events import SessionBound, SessionClosed
from xmpp_video.core.server import Server
from xmpp_video.storage.repositories import SessionRow, Transport

log = logging.getLogger(__name__)


class SessionStoreModule:
    name = "session_store"

    def setup(self, server: Server) -> None:
        self.server = server
        server.hooks.on(SessionBound, self.bound)
        server.hooks.on(SessionClosed, self.closed)

    async def start(self) -> None:
        removed = await self.server.storage.sessions.remove_node(self.server.node_id)
        if removed:
            log.warning(
                "removed %d session rows left by an earlier run of node %s",
                removed,
                self.server.node_id,
            )

    def stop(self) -> None:
        return None

    async def bound(self, event: SessionBound) -> None:
        session = event.session
        assert session.jid is not None
        assert session.jid.resource is not None
        await self.server.storage.sessions.add(
            SessionRow(
                bare_jid=session.bare,
                resource=session.jid.resource,
                node_id=self.server.node_id,
                transport=Transport(session.transport_name),
                connected_since=dt.datetime.fromtimestamp(session.connected_since, dt.UTC),
                priority=session.priority,
            )
        )

    async def closed(self, event: SessionClosed) -> None:
        session = event.session
        assert session.jid is not None
        assert session.jid.resource is not None
        await self.server.storage.sessions.remove(session.bare, session.jid.resource)
