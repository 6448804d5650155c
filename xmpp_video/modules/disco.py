"""Service discovery (XEP-0030) for the server and for accounts."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.server import Server
from xmpp_video.modules.roster import has_from
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError

INFO = f"{{{ns.DISCO_INFO}}}query"
ITEMS = f"{{{ns.DISCO_ITEMS}}}query"


class DiscoModule:
    name = "disco"

    def setup(self, server: Server) -> None:
        self.server = server
        server.iq.register("get", INFO, self.server_info)
        server.iq.register("get", ITEMS, self.server_items)
        server.iq.register("get", INFO, self.account_info, targets=(IqTarget.ACCOUNT,))
        server.iq.register("get", ITEMS, self.account_items, targets=(IqTarget.ACCOUNT,))
        server.disco.server_features.update((ns.DISCO_INFO, ns.DISCO_ITEMS))
        server.disco.account_features.update((ns.DISCO_INFO, ns.DISCO_ITEMS))

    def stop(self) -> None:
        return None

    def _info(
        self, identities: list[tuple[str, str, str]], features: set[str], node: str | None
    ) -> Element:
        query = Element(INFO)
        if node is not None:
            query.set("node", node)
        for category, type_, name in identities:
            SubElement(
                query,
                f"{{{ns.DISCO_INFO}}}identity",
                {"category": category, "type": type_, "name": name},
            )
        for feature in sorted(features):
            SubElement(query, f"{{{ns.DISCO_INFO}}}feature", {"var": feature})
        return query

    async def server_info(self, request: IqRequest) -> Element:
        node = request.payload.get("node")
        disco = self.server.disco
        if node is not None:
            for owner in disco.nodes:
                info = owner.node_info(node, request.sender)
                if info is not None:
                    return self._info(list(info.identities), set(info.features), node)
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND)
        return self._info(disco.server_identities, disco.server_features, None)

    async def server_items(self, request: IqRequest) -> Element:
        query = Element(ITEMS)
        node = request.payload.get("node")
        if node is not None:
            for owner in self.server.disco.nodes:
                items = owner.node_items(node, request.sender)
                if items is not None:
                    query.set("node", node)
                    for item in items:
                        SubElement(
                            query,
                            f"{{{ns.DISCO_ITEMS}}}item",
                            {"jid": self.server.domain, "node": item.node, "name": item.name},
                        )
                    return query
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND)
        query.extend(self.server.disco.extra_items)
        return query

    async def _check_account(self, request: IqRequest) -> None:
        """Only the account itself and its subscribers may look into it (RFC 6121 privacy)."""
        if request.payload.get("node") is not None:
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND)
        if request.from_self:
            return
        owner = str(request.to)
        if not await self.server.accounts.exists(request.to.local or ""):
            raise StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE)
        item = await self.server.storage.roster.get_item(owner, str(request.sender.bare))
        if not has_from(item):
            raise StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE)

    async def account_info(self, request: IqRequest) -> Element:
        await self._check_account(request)
        disco = self.server.disco
        return self._info(disco.account_identities, disco.account_features, None)

    async def account_items(self, request: IqRequest) -> Element:
        await self._check_account(request)
        query = Element(ITEMS)
        for items in self.server.disco.account_items:
            query.extend(await items(request.to, request.sender))
        return query
