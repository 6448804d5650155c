"""The events the core fires (see hooks.py). Frozen dataclasses: they cross module boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

if TYPE_CHECKING:
    from xmpp_video.core.session import Session


@dataclass(frozen=True, slots=True)
class SessionBound:
    """A client bound a resource: it can send and receive stanzas from now on."""

    session: Session


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """A bound session ended (any reason). Fired once, after it left the registry."""

    session: Session


@dataclass(frozen=True, slots=True)
class PresenceFromClient:
    """A presence stanza from a bound client, `from` already stamped."""

    session: Session
    stanza: Element


@dataclass(frozen=True, slots=True)
class PresenceToAccount:
    """A presence stanza for a local account (subscription handling, probes)."""

    stanza: Element
    to_bare: str


@dataclass(frozen=True, slots=True)
class MessageUndeliverable:
    """A chat/normal message for an existing local account with no available resource."""

    stanza: Element
    to_bare: str


@dataclass(frozen=True, slots=True)
class InitialPresence:
    """A session sent its first available presence (offline delivery, probes)."""

    session: Session


@dataclass(frozen=True, slots=True)
class SessionHibernating:
    """A resumable session lost its connection (XEP-0198): it stays in the registry, available,
    and queues what is sent to it (`session.hibernating` is true) until it is resumed
    (`SessionResumed`) or its resumption timeout passes (then `SessionClosed`)."""

    session: Session


@dataclass(frozen=True, slots=True)
class SessionResumed:
    """A hibernating session was resumed on a new connection; what it queued was resent."""

    session: Session


@dataclass(frozen=True, slots=True)
class StanzaQueuedWhileHibernating:
    """A stanza was queued for a hibernating session (push notifications count these). Fired
    only when someone listens; ``queued``: how many stanzas the session holds now."""

    session: Session
    stanza: Element
    queued: int


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    """A local account was deleted (its rows are gone; its sessions are being closed): modules
    drop what they keep in memory about it. ``bare``: the prepared bare JID."""

    bare: str
