"""PEP, the Personal Eventing Protocol (XEP-0163): a pubsub service (XEP-0060) at each
account's bare JID, with publish options (XEP-0223) and ``+notify`` filtering through entity
capabilities (XEP-0115). Enough for OMEMO (XEP-0384: device list and bundles with
``pubsub#access_model`` ``open``), avatars (XEP-0084) and nicknames (XEP-0172).

The parts, one file each: `names` (namespaces, features), `forms` (XEP-0004), `model` (node
configuration, errors), `nodes` (nodes through a cache), `access` (who may read), `caps`
(XEP-0115), `requests` (iqs the server sends and awaits), `notify` (events, last items) and
`service` (the pubsub requests, where the behaviour is described request by request).

Disco: the account shows identity ``pubsub/pep`` and the features of `names.FEATURES`; its
disco#items lists the nodes the requester may read (to whoever may look into the account at
all, see ``modules.disco``). Deleting an account deletes its nodes and items with it
(``UserRepository.delete``).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from xmpp_video.core.events import AccountDeleted, PresenceFromClient, SessionClosed
from xmpp_video.core.iq import IqTarget
from xmpp_video.core.server import Server
from xmpp_video.jid import JID
from xmpp_video.modules.pep.access import Access
from xmpp_video.modules.pep.names import FEATURES, OWNER_TAG, PUBSUB_TAG
from xmpp_video.modules.pep.nodes import Nodes
from xmpp_video.modules.pep.notify import Notifier
from xmpp_video.modules.pep.requests import ServerRequests
from xmpp_video.modules.pep.service import PubsubService
from xmpp_video.modules.roster import RosterModule
from xmpp_video.stanza import namespaces as ns

__all__ = ["PepModule"]


class PepModule:
    name = "pep"

    def __init__(self, roster: RosterModule) -> None:
        self.roster = roster

    def setup(self, server: Server) -> None:
        self.server = server
        self.requests = ServerRequests(server.domain)
        server.router.gates.append(self.requests)
        self.nodes = Nodes(server.storage.pep, server.settings.pep_max_items)
        self.access = Access(self.roster)
        self.notifier = Notifier(server, self.roster, self.access, self.nodes, self.requests)
        self.service = PubsubService(server, self.nodes, self.access, self.notifier)
        account = (IqTarget.ACCOUNT,)
        server.iq.register("get", PUBSUB_TAG, self.service.pubsub_get, targets=account)
        server.iq.register("set", PUBSUB_TAG, self.service.pubsub_set, targets=account)
        server.iq.register("get", OWNER_TAG, self.service.owner_get, targets=account)
        server.iq.register("set", OWNER_TAG, self.service.owner_set, targets=account)
        server.disco.account_features.update(FEATURES)
        server.disco.account_identities.append(("pubsub", "pep", ""))
        server.disco.account_items.append(self.disco_items)
        server.hooks.on(PresenceFromClient, self.notifier.presence)
        server.hooks.on(SessionClosed, self.notifier.closed)
        self.roster.listeners.append(self.notifier.subscription_saved)
        server.hooks.on(AccountDeleted, self.deleted)

    def stop(self) -> None:
        return None

    async def disco_items(self, owner: JID, requester: JID) -> list[Element]:
        owner_s, reader = str(owner), str(requester.bare)
        found = []
        for node, config in sorted((await self.nodes.of(owner_s)).items()):
            if await self.access.allowed(owner_s, reader, config):
                item = Element(f"{{{ns.DISCO_ITEMS}}}item", {"jid": owner_s, "node": node})
                if config.title:
                    item.set("name", config.title)
                found.append(item)
        return found

    def deleted(self, event: AccountDeleted) -> None:
        self.nodes.forget(event.bare)
