"""XEP-0054 vcard-temp: each account's vCard, kept by the server as XML text.

* ``<iq type='get'><vCard xmlns='vcard-temp'/></iq>`` without ``to`` (or to the own bare JID):
  the own vCard (§3.1); to another account's bare JID: that account's (§3.2), which anyone may
  read (vCards are public; a blocked requester gets ``service-unavailable`` from the blocking
  gate). A user who never set one gets an empty ``<vCard/>`` (§3.1 allows it instead of
  ``item-not-found``; clients take it as "no vCard yet"); an account that does not exist gets
  ``service-unavailable`` (RFC 6121 §8.5.1).
* ``<iq type='set'><vCard>…</vCard></iq>`` (§3.3): replaces the own vCard with the element as
  sent, whatever it holds (the server does not interpret vCard fields); larger than
  `VCARD_MAX_SIZE` bytes once serialized: ``not-acceptable``. Another account's: ``forbidden``.
* A vCard addressed to a full JID is the client's business (the router delivers it there).

Disco: ``vcard-temp`` on the server (§2). Deleting an account deletes its vCard.
"""

from __future__ import annotations

import logging
from typing import Final
from xml.etree.ElementTree import Element, ParseError, fromstring

from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.server import Server
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.xml import serialize

log = logging.getLogger(__name__)

NS: Final = "vcard-temp"
VCARD: Final = f"{{{NS}}}vCard"


class VCardModule:
    name = "vcard"

    def setup(self, server: Server) -> None:
        self.server = server
        self.repo = server.storage.vcards
        self.max_size = server.settings.vcard_max_size
        server.iq.register("get", VCARD, self.get, targets=(IqTarget.ACCOUNT,))
        server.iq.register("set", VCARD, self.set, targets=(IqTarget.ACCOUNT,))
        server.disco.server_features.add(NS)

    def stop(self) -> None:
        return None

    async def get(self, request: IqRequest) -> Element:
        owner = str(request.to)
        if not request.from_self and not await self.server.accounts.exists(request.to.local or ""):
            raise StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE)
        stored = await self.repo.get(owner)
        if stored is None:
            return Element(VCARD)
        try:
            vcard = fromstring(stored)  # noqa: S314 - our own serialized element, from our database
        except ParseError:
            log.error("unreadable stored vCard of %s", owner)
            return Element(VCARD)
        return vcard

    async def set(self, request: IqRequest) -> None:
        if not request.from_self:
            raise StanzaError(StanzaErrorCondition.FORBIDDEN, "you may only set your own vCard")
        xml = serialize(request.payload, default_ns="")
        if len(xml) > self.max_size:
            # COMPAT(slixmpp): not policy-violation, which its stanza errors refuse
            raise StanzaError(
                StanzaErrorCondition.NOT_ACCEPTABLE,
                f"a vCard may take at most {self.max_size} bytes",
            )
        await self.repo.set(str(request.to), xml.decode())
