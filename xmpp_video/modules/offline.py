"""Offline storage (RFC 6121 §8.5.2.1.1, XEP-0160): chat/normal messages for an account with no
available resource are kept, stamped with XEP-0203 delay, and delivered on the next initial
presence. Past `OFFLINE_LIMIT` stored messages the sender gets `service-unavailable`."""

from __future__ import annotations

import datetime as dt
import logging
from xml.etree.ElementTree import Element, ParseError, SubElement, fromstring

from xmpp_video.core.events import InitialPresence
from xmpp_video.core.server import Server
from xmpp_video.stanza import namespaces as ns
from xmpp_video.xml import serialize

log = logging.getLogger(__name__)
OFFLINE_FEATURE = "msgoffline"


class OfflineModule:
    name = "offline"

    def setup(self, server: Server) -> None:
        self.server = server
        server.router.offline_store = self.store
        server.hooks.on(InitialPresence, self.flush)
        server.disco.server_features.add(OFFLINE_FEATURE)

    def stop(self) -> None:
        return None

    async def store(self, stanza: Element, to_bare: str) -> bool:
        stamped = Element(stanza.tag, dict(stanza.attrib))
        stamped.extend(list(stanza))
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        SubElement(
            stamped, f"{{{ns.DELAY}}}delay", {"from": self.server.domain, "stamp": stamp}
        ).text = "Offline Storage"
        xml = serialize(stamped, default_ns="").decode()
        return await self.server.storage.offline.store(
            to_bare, xml, limit=self.server.settings.offline_limit
        )

    async def flush(self, event: InitialPresence) -> None:
        session = event.session
        if session.priority < 0:
            return
        for xml in await self.server.storage.offline.pop_all(session.bare):
            try:
                stanza = fromstring(xml)  # noqa: S314 - our own serialized stanza, from our database
            except ParseError:
                log.error("offline message for %s could not be parsed; dropped", session.bare)
                continue
            session.deliver(stanza)
