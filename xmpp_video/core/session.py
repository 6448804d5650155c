"""A bound session as the core sees it, whatever its transport (TCP, WebSocket, JSON bridge)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from xml.etree.ElementTree import Element

from xmpp_video.jid import JID
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.storage.repositories import RosterItem


class Session(ABC):
    """Identity and presence state of one bound resource; transports subclass it.

    Attributes live in slots, not in a dict per instance: one C2S stream per connection, and
    CPython keeps a shared-key (small) instance dict only up to 30 attribute names per class,
    beyond which every stream that set one more got a dict of its own (some 1.5 KB).
    """

    __slots__ = (
        "bare",
        "carbons",
        "closed",
        "connected_since",
        "directed_to",
        "full",
        "interested",
        "jid",
        "presence",
        "priority",
        "roster",
    )

    transport_name: str = "tcp"

    def __init__(self) -> None:
        self.carbons: bool = False  # XEP-0280 enabled (carbons module)
        self.jid: JID | None = None
        self.bare: str = ""
        self.full: str = ""
        self.priority: int = 0
        self.presence: Element | None = (
            None  # last available presence broadcast, None = unavailable
        )
        self.interested: bool = False  # requested the roster: gets roster pushes
        self.directed_to: set[str] = set()  # JIDs we sent directed available presence to
        # the account's roster by contact, loaded once per session by the roster module and
        # kept current by it; None until first needed
        self.roster: dict[str, RosterItem] | None = None
        self.connected_since: float = time.time()
        self.closed: bool = False

    @property
    def available(self) -> bool:
        return self.presence is not None

    @property
    def hibernating(self) -> bool:
        """Its connection is gone but it can be resumed (XEP-0198): stanzas sent to it are
        queued (see `core.events.SessionHibernating`)."""
        return False

    def bind(self, jid: JID) -> None:
        self.jid = jid
        self.bare = str(jid.bare)
        self.full = str(jid)

    @abstractmethod
    def deliver(self, stanza: Element) -> None:
        """Queue `stanza` for the client (already addressed and stamped)."""

    @abstractmethod
    def close(self, condition: StreamErrorCondition | None = None, text: str = "") -> None:
        """End the session, with a stream error when `condition` is given."""
