"""The external component protocol (XEP-0114, ``jabber:component:accept``) without I/O. Pure.

A component (a gateway, a bot, a service on its own domain) connects to the component port and:

1. opens ``<stream:stream xmlns='jabber:component:accept' to='DOMAIN'>``; the server answers with
   its own header, ``from`` = that domain and a fresh ``id`` (no ``version``: XEP-0114 streams
   predate stream features, none are sent);
2. sends ``<handshake>HEX</handshake>``, HEX = lower-case hex SHA-1 of the stream id followed by
   the shared secret (the secret itself never travels);
3. gets an empty ``<handshake/>``, and from then on exchanges stanzas with the server; each
   stanza it sends must be ``from`` a JID of its domain.

`TRANSITIONS` is the whole state machine; `REFUSAL` the stream error that ends a stream whose
peer sent an element its state does not allow. The same XML limits as c2s apply (the stream is
parsed by the same `StreamParser`).

Inside the stream, stanzas are in ``jabber:component:accept``; in the server they are in
``jabber:client`` like every other stanza: `to_client_namespace` renames them on the way in. On
the way out nothing is renamed: a stanza serialized for a ``jabber:client`` default namespace
inherits the component stream's default namespace.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Container
from enum import Enum
from typing import Final
from xml.etree.ElementTree import Element

from xmpp_video.jid import JID, InvalidJID, prep_domain
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.xml.writer import stream_header

__all__ = [
    "HANDSHAKE",
    "HANDSHAKE_OK",
    "REFUSAL",
    "STANZA_TAGS",
    "TRANSITIONS",
    "ComponentState",
    "can_move",
    "check_header",
    "handshake_digest",
    "handshake_valid",
    "header",
    "sender_in_domain",
    "to_client_namespace",
]


class ComponentState(Enum):
    WAIT_HEADER = "wait-header"  # before the component's <stream:stream>
    WAIT_HANDSHAKE = "wait-handshake"  # our header (with the stream id) is out
    READY = "ready"  # handshake accepted: stanzas flow both ways
    CLOSED = "closed"


TRANSITIONS: Final[dict[ComponentState, frozenset[ComponentState]]] = {
    ComponentState.WAIT_HEADER: frozenset((ComponentState.WAIT_HANDSHAKE,)),
    ComponentState.WAIT_HANDSHAKE: frozenset((ComponentState.READY,)),
    ComponentState.READY: frozenset(),
    ComponentState.CLOSED: frozenset(),
}

# What an element the state does not allow costs: before the handshake, anything but the
# handshake; after it, anything but a stanza (a second handshake included).
REFUSAL: Final[dict[ComponentState, StreamErrorCondition]] = {
    ComponentState.WAIT_HANDSHAKE: StreamErrorCondition.NOT_AUTHORIZED,
    ComponentState.READY: StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
}

_STREAM_TAG: Final = f"{{{ns.STREAM}}}stream"
_COMPONENT_PREFIX: Final = f"{{{ns.COMPONENT}}}"
_CLIENT_PREFIX: Final = f"{{{ns.CLIENT}}}"
HANDSHAKE: Final = f"{_COMPONENT_PREFIX}handshake"
HANDSHAKE_OK: Final = b"<handshake/>"
# Stanzas a component may send, before and after renaming; jabber:client is accepted as such
# (COMPAT(slixmpp): its error elements, and some components' stanzas, declare jabber:client).
STANZA_TAGS: Final = frozenset(
    prefix + name
    for prefix in (_COMPONENT_PREFIX, _CLIENT_PREFIX)
    for name in ("message", "presence", "iq")
)


def can_move(src: ComponentState, dst: ComponentState) -> bool:
    return dst is ComponentState.CLOSED or dst in TRANSITIONS[src]


def header(*, domain: str, stream_id: str) -> bytes:
    """The server's stream header for a component stream."""
    return stream_header(from_=domain, id_=stream_id, version="", default_ns=ns.COMPONENT)


def check_header(
    tag: str, default_ns: str | None, to: str | None, domains: Container[str]
) -> tuple[str | None, StreamErrorCondition | None]:
    """Check the component's stream header: (its prepared domain, None) when it may go on to the
    handshake, else (the domain if known, the stream error to close with)."""
    domain: str | None = None
    if to is not None:
        try:
            domain = prep_domain(to)
        except InvalidJID:
            domain = None
    if tag != _STREAM_TAG or default_ns != ns.COMPONENT:
        return None, StreamErrorCondition.INVALID_NAMESPACE
    if domain is None or domain not in domains:
        return None, StreamErrorCondition.HOST_UNKNOWN
    return domain, None


def handshake_digest(stream_id: str, secret: str) -> str:
    """What the component must send: hex SHA-1 of the stream id followed by the secret."""
    data = (stream_id + secret).encode()
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - XEP-0114 defines the handshake as SHA-1


def handshake_valid(received: str | None, stream_id: str, secret: str) -> bool:
    """Whether ``<handshake>`` text proves the secret; compared in constant time (hex digits of
    either case, surrounding whitespace ignored)."""
    given = (received or "").strip().lower().encode()
    return hmac.compare_digest(given, handshake_digest(stream_id, secret).encode())


def sender_in_domain(from_: str | None, domain: str) -> JID | None:
    """The prepared sender of a component's stanza: its ``from`` when that is a JID of
    ``domain``, the domain itself when there is no ``from``; None means ``<invalid-from/>``."""
    if from_ is None:
        return JID(None, domain)
    try:
        sender = JID.parse(from_)
    except InvalidJID:
        return None
    return sender if sender.domain == domain else None


def to_client_namespace(element: Element) -> None:
    """Rename, in place, the ``jabber:component:accept`` elements of a received stanza (the
    stanza and the children that inherited the stream's namespace) to ``jabber:client``."""
    prefix = _COMPONENT_PREFIX
    size = len(prefix)
    for node in element.iter():
        tag = node.tag
        if tag.startswith(prefix):
            node.tag = _CLIENT_PREFIX + tag[size:]
