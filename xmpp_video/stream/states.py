"""The c2s negotiation as a literal transition table (RFC 6120 §4-§7).

`ALLOWED[state]` is the set of top-level elements a client may send in that state; anything else
gets the stream error in `REFUSAL[state]`. The session code moves between states only along
`TRANSITIONS`.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition


class StreamState(Enum):
    WAIT_HEADER = "wait-header"  # before the client's <stream:stream>
    NEGOTIATING = "negotiating"  # header sent with starttls/mechanisms features
    TLS_HANDSHAKE = "tls-handshake"  # <proceed/> sent, TLS being set up
    SASL = "sasl"  # an exchange is in progress (challenge sent)
    WAIT_RESTART = "wait-restart"  # <success/> sent, waiting for the new header
    WAIT_BIND = "wait-bind"  # authenticated, header sent with bind feature
    BOUND = "bound"  # a resource is bound: stanzas flow
    CLOSED = "closed"


STARTTLS: Final = f"{{{ns.TLS}}}starttls"
AUTH: Final = f"{{{ns.SASL}}}auth"
RESPONSE: Final = f"{{{ns.SASL}}}response"
ABORT: Final = f"{{{ns.SASL}}}abort"
IQ: Final = f"{{{ns.CLIENT}}}iq"
MESSAGE: Final = f"{{{ns.CLIENT}}}message"
PRESENCE: Final = f"{{{ns.CLIENT}}}presence"

ALLOWED: Final[dict[StreamState, frozenset[str]]] = {
    StreamState.NEGOTIATING: frozenset((STARTTLS, AUTH)),
    StreamState.SASL: frozenset((RESPONSE, ABORT, AUTH)),
    StreamState.WAIT_BIND: frozenset((IQ,)),
    StreamState.BOUND: frozenset((IQ, MESSAGE, PRESENCE)),
}

REFUSAL: Final[dict[StreamState, StreamErrorCondition]] = {
    StreamState.NEGOTIATING: StreamErrorCondition.NOT_AUTHORIZED,
    StreamState.SASL: StreamErrorCondition.POLICY_VIOLATION,
    StreamState.WAIT_BIND: StreamErrorCondition.NOT_AUTHORIZED,
    StreamState.BOUND: StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
}

TRANSITIONS: Final[dict[StreamState, frozenset[StreamState]]] = {
    StreamState.WAIT_HEADER: frozenset((StreamState.NEGOTIATING, StreamState.WAIT_BIND)),
    StreamState.NEGOTIATING: frozenset(
        (StreamState.TLS_HANDSHAKE, StreamState.SASL, StreamState.WAIT_RESTART)
    ),
    StreamState.TLS_HANDSHAKE: frozenset((StreamState.WAIT_HEADER,)),
    StreamState.SASL: frozenset(
        (StreamState.SASL, StreamState.NEGOTIATING, StreamState.WAIT_RESTART)
    ),
    StreamState.WAIT_RESTART: frozenset((StreamState.WAIT_HEADER,)),
    StreamState.WAIT_BIND: frozenset((StreamState.BOUND,)),
    StreamState.BOUND: frozenset(),
    StreamState.CLOSED: frozenset(),
}


def can_move(src: StreamState, dst: StreamState) -> bool:
    return dst is StreamState.CLOSED or dst in TRANSITIONS[src]
