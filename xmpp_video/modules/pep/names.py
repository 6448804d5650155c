"""Namespaces, element tags and disco features of XEP-0060 as PEP (XEP-0163) uses them."""

from __future__ import annotations

from typing import Final

from xmpp_video.stanza.namespaces import DATA, PUBSUB

OWNER: Final = "http://jabber.org/protocol/pubsub#owner"
EVENT: Final = "http://jabber.org/protocol/pubsub#event"
ERRORS: Final = "http://jabber.org/protocol/pubsub#errors"
NODE_CONFIG: Final = "http://jabber.org/protocol/pubsub#node_config"

PUBSUB_TAG: Final = f"{{{PUBSUB}}}pubsub"
OWNER_TAG: Final = f"{{{OWNER}}}pubsub"
EVENT_TAG: Final = f"{{{EVENT}}}event"
FORM: Final = f"{{{DATA}}}x"

# features of the account's PEP service (XEP-0060 §10), each one implemented here
FEATURES: Final = (
    PUBSUB,
    *(
        f"{PUBSUB}#{name}"
        for name in (
            "access-open",
            "access-presence",
            "access-whitelist",
            "auto-create",
            "config-node",
            "create-and-configure",
            "create-nodes",
            "delete-items",
            "delete-nodes",
            "filtered-notifications",
            "item-ids",
            "last-published",
            "multi-items",
            "persistent-items",
            "presence-notifications",
            "publish",
            "publish-options",
            "purge-nodes",
            "retract-items",
            "retrieve-default",
            "retrieve-items",
        )
    ),
)
