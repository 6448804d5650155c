"""XEP-0092 Software Version of the server."""

from __future__ import annotations

import platform
from xml.etree.ElementTree import Element, SubElement

from xmpp_video import __version__
from xmpp_video.core.iq import IqRequest
from xmpp_video.core.server import Server
from xmpp_video.stanza import namespaces as ns

QUERY = f"{{{ns.VERSION}}}query"


class VersionModule:
    name = "version"

    def setup(self, server: Server) -> None:
        server.iq.register("get", QUERY, self.version)
        server.disco.server_features.add(ns.VERSION)

    def stop(self) -> None:
        return None

    async def version(self, request: IqRequest) -> Element:
        query = Element(QUERY)
        SubElement(query, f"{{{ns.VERSION}}}name").text = "xmpp-video"
        SubElement(query, f"{{{ns.VERSION}}}version").text = __version__
        SubElement(query, f"{{{ns.VERSION}}}os").text = platform.system()
        return query
