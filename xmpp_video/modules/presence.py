"""Presence broadcast (RFC 6121 §4): initial presence and probes, updates, unavailable.

Available presence goes to the user's own resources and to contacts subscribed to the user
(`from`/`both`); initial presence also brings the current presence of contacts the user is
subscribed to (`to`/`both`). When a session ends without unavailable presence the server sends
it on its behalf, also to JIDs it sent directed presence to.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from xmpp_video.core.events import InitialPresence, PresenceFromClient, SessionClosed
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.modules.roster import RosterModule, has_from, has_to
from xmpp_video.stanza.builders import presence

PRIORITY = "{jabber:client}priority"


def _priority(stanza: Element) -> int:
    text = stanza.findtext(PRIORITY)
    try:
        value = int(text) if text is not None else 0
    except ValueError:
        return 0
    return max(-128, min(127, value))


class PresenceModule:
    name = "presence"

    def __init__(self, roster: RosterModule) -> None:
        self.roster = roster

    def setup(self, server: Server) -> None:
        self.server = server
        server.hooks.on(PresenceFromClient, self.from_client)
        server.hooks.on(SessionClosed, self.closed)

    def stop(self) -> None:
        return None

    async def from_client(self, event: PresenceFromClient) -> None:
        stanza, session = event.stanza, event.session
        type_ = stanza.get("type")
        if stanza.get("to") is not None and stanza.get("to") != session.bare:
            return  # subscription stanzas: the roster module
        if type_ is None:
            initial = session.presence is None
            session.priority = _priority(stanza)
            session.presence = stanza
            await self.broadcast(session, stanza)
            if initial:
                await self.probe_contacts(session)
                await self.server.hooks.fire(InitialPresence(session))
        elif type_ == "unavailable":
            await self.go_unavailable(session, stanza)

    async def broadcast(self, session: Session, stanza: Element) -> None:
        router = self.server.router
        stanza.attrib.pop("to", None)
        for item in (await self.roster.roster_of(session)).values():
            if has_from(item):
                router.deliver_presence_to_account(stanza, item.contact)
        for own in self.server.registry.resources(session.bare):
            if own.available:
                own.deliver(stanza)

    async def probe_contacts(self, session: Session) -> None:
        router = self.server.router
        for item in (await self.roster.roster_of(session)).values():
            if has_to(item):
                for contact in self.server.registry.resources(item.contact):
                    if contact.presence is not None:
                        if router.gates and router.presence_withheld(contact.full, session.full):
                            continue  # blocked, either way (XEP-0191)
                        session.deliver(contact.presence)
        for own in self.server.registry.resources(session.bare):
            if own is not session and own.presence is not None:
                session.deliver(own.presence)

    async def go_unavailable(self, session: Session, stanza: Element) -> None:
        was_available = session.available
        session.presence = None
        if was_available:
            await self.broadcast(session, stanza)
            session.deliver(stanza)
        router = self.server.router
        for target in sorted(session.directed_to):
            directed = presence("unavailable", to=target, from_=session.full)
            if session.jid is not None:
                router.route(directed, session.jid, None)
        session.directed_to.clear()

    async def closed(self, event: SessionClosed) -> None:
        session = event.session
        if session.available or session.directed_to:
            await self.go_unavailable(session, presence("unavailable", from_=session.full))
