"""The server's own entity capabilities (XEP-0115 §6.3): a ``<c/>`` stream feature naming the
hash of the server's disco#info, so that a client learns what the server supports without a
disco round trip, and disco#info of the ``node#ver`` node answering the same as the server's.

Set up last: the verification string covers the identities and features every module set up
before it registered (it is computed once, at setup; the server's features do not change
while it runs).
"""

from __future__ import annotations

from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.server import NodeInfo, NodeItem, Server
from xmpp_video.jid import JID
from xmpp_video.modules.pep.caps import verification_string
from xmpp_video.stanza import namespaces as ns

NODE: Final = "urn:xmpp-video:server"  # identifies the software (§4 `node`)
HASH: Final = "sha-1"


def disco_info(identities: list[tuple[str, str, str]], features: set[str]) -> Element:
    """A disco#info ``<query/>`` of these identities and features (what the hash covers)."""
    query = Element(f"{{{ns.DISCO_INFO}}}query")
    for category, type_, name in identities:
        attrs = {"category": category, "type": type_}
        if name:
            attrs["name"] = name
        SubElement(query, f"{{{ns.DISCO_INFO}}}identity", attrs)
    for feature in sorted(features):
        SubElement(query, f"{{{ns.DISCO_INFO}}}feature", {"var": feature})
    return query


class ServerCapsModule:
    name = "server-caps"

    def setup(self, server: Server) -> None:
        disco = server.disco
        self.info = NodeInfo(tuple(disco.server_identities), frozenset(disco.server_features))
        self.ver = verification_string(
            disco_info(list(self.info.identities), set(self.info.features)), HASH
        )
        self.node = f"{NODE}#{self.ver}"
        server.stream_features.append(
            Element(f"{{{ns.CAPS}}}c", {"hash": HASH, "node": NODE, "ver": self.ver})
        )
        disco.nodes.append(self)

    def stop(self) -> None:
        return None

    # -- DiscoNodes --------------------------------------------------------------------------

    def node_info(self, node: str, sender: JID) -> NodeInfo | None:
        return self.info if node == self.node else None

    def node_items(self, node: str, sender: JID) -> list[NodeItem] | None:
        return [] if node == self.node else None
