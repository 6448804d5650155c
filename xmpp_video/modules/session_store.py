"""Persists bound sessions in `user_session` (jid, resource, node, transport, since, priority)
and each account's last login; cleans the rows a crashed run of this node left behind when the
node starts.

Writes are batched (write-behind): bindings and unbindings are coalesced per full JID and
written together at most `FLUSH_DELAY` seconds later, in one transaction — a login costs no
database round trip of its own. `stop()` flushes what is pending.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from xmpp_video.core.events import SessionBound, SessionClosed
from xmpp_video.core.server import Server
from xmpp_video.storage.repositories import SessionRow, Transport

log = logging.getLogger(__name__)
FLUSH_DELAY = 0.2


class SessionStoreModule:
    name = "session_store"

    def setup(self, server: Server) -> None:
        self.server = server
        self._pending: dict[tuple[str, str], SessionRow | None] = {}
        self._logins: set[str] = set()
        self._flush_task: asyncio.Task[None] | None = None
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

    async def stop(self) -> None:
        if self._flush_task is not None:
            await self._flush_task
        await self.flush()

    def bound(self, event: SessionBound) -> None:
        session = event.session
        assert session.jid is not None
        assert session.jid.resource is not None
        self._pending[(session.bare, session.jid.resource)] = SessionRow(
            bare_jid=session.bare,
            resource=session.jid.resource,
            node_id=self.server.node_id,
            transport=Transport(session.transport_name),
            connected_since=dt.datetime.fromtimestamp(session.connected_since, dt.UTC),
            priority=session.priority,
        )
        if session.jid.local is not None:
            self._logins.add(session.jid.local)
        self._schedule()

    def closed(self, event: SessionClosed) -> None:
        session = event.session
        assert session.jid is not None
        assert session.jid.resource is not None
        self._pending[(session.bare, session.jid.resource)] = None
        self._schedule()

    def _schedule(self) -> None:
        if self._flush_task is None:
            self._flush_task = self.server.tasks.spawn(self._flush_later(), name="session-store")

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        self._flush_task = None
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        logins, self._logins = self._logins, set()
        if not pending and not logins:
            return
        adds = [row for row in pending.values() if row is not None]
        removes = [key for key, row in pending.items() if row is None]
        storage = self.server.storage
        try:
            await storage.sessions.apply(adds, removes)
            await storage.users.touch_last_logins(
                sorted(logins), self.server.domain, dt.datetime.now(dt.UTC)
            )
        except Exception:
            log.exception("could not write %d session rows; retrying", len(pending))
            for key, row in pending.items():
                self._pending.setdefault(key, row)
            self._logins |= logins
            self._schedule()
