"""Who may read a node (XEP-0060 §4.5 access models, as PEP applies them, XEP-0163 §4.1):

* the owner always;
* ``open``: anyone, a stranger included (OMEMO bundles, XEP-0384);
* ``presence``: contacts whose subscription to the owner's presence is ``from`` or ``both``
  in the owner's roster;
* ``whitelist``: the owner only (this service keeps no whitelist of others).

A refusal is the error XEP-0060 §6.5.9 gives: ``not-authorized`` +
``presence-subscription-required`` (presence), ``not-allowed`` + ``closed-node`` (whitelist).
"""

from __future__ import annotations

from xmpp_video.modules.pep.model import AccessModel, NodeConfig, pubsub_error
from xmpp_video.modules.roster import RosterModule, has_from
from xmpp_video.stanza.conditions import StanzaErrorCondition, StanzaErrorType
from xmpp_video.stanza.errors import StanzaError


class Access:
    def __init__(self, roster: RosterModule) -> None:
        self.roster = roster

    async def allowed(self, owner: str, reader: str, config: NodeConfig) -> bool:
        """Whether the bare JID `reader` may read a node of `owner` with `config`."""
        if reader == owner or config.access_model is AccessModel.OPEN:
            return True
        if config.access_model is AccessModel.PRESENCE:
            return has_from(await self.roster.item(owner, reader))
        return False

    async def check(self, owner: str, reader: str, config: NodeConfig) -> None:
        """Raise the XEP-0060 error when `reader` may not read."""
        if await self.allowed(owner, reader, config):
            return
        raise refusal(config)


def refusal(config: NodeConfig) -> StanzaError:
    if config.access_model is AccessModel.PRESENCE:
        return pubsub_error(
            StanzaErrorCondition.NOT_AUTHORIZED,
            "presence-subscription-required",
            type_=StanzaErrorType.AUTH,
        )
    return pubsub_error(
        StanzaErrorCondition.NOT_ALLOWED, "closed-node", type_=StanzaErrorType.CANCEL
    )
