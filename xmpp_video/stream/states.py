"""The c2s negotiation as a literal transition table (RFC 6120 §4-§7).

`ALLOWED[state]` is the set of top-level elements a client may send in that state, and
`NONZAS[state]` the stream-level elements (not stanzas) it may send besides; anything else gets
the stream error in `REFUSAL[state]`. The session code moves between states only along
`TRANSITIONS`.

After binding, the stream-management (XEP-0198) and client-state (XEP-0352) nonzas are allowed
besides stanzas; `<resume/>` only on a new stream after SASL, before binding (it takes the place
of binding), and `<enable/>` before binding gets `<failed/>` (XEP-0198 §3), not a stream error.
SASL2 (XEP-0388, `stream.sasl2`): ``<authenticate>`` starts an exchange like ``<auth>`` (its
``<response>``/``<abort>`` are allowed in SASL); its success needs no stream restart, so the
stream goes straight to WAIT_BIND, or to BOUND when Bind 2 bound a resource inline
(`core.c2s_sasl2`); a second ``<authenticate>`` after that is refused like any other element.
A bound session whose connection drops while it is resumable is HIBERNATING: it has no
connection, keeps its resource and presence, queues what is sent to it, and becomes BOUND again
on the connection that resumes it (or CLOSED when the resumption timeout passes).
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.stream import csi, sasl2, sm


class StreamState(Enum):
    WAIT_HEADER = "wait-header"  # before the client's <stream:stream>
    NEGOTIATING = "negotiating"  # header sent with starttls/mechanisms features
    TLS_HANDSHAKE = "tls-handshake"  # <proceed/> sent, TLS being set up
    SASL = "sasl"  # an exchange is in progress (challenge sent)
    WAIT_RESTART = "wait-restart"  # <success/> sent, waiting for the new header
    WAIT_BIND = "wait-bind"  # authenticated, header sent with bind feature
    BOUND = "bound"  # a resource is bound: stanzas flow
    HIBERNATING = "hibernating"  # bound, connection lost, resumable (XEP-0198): stanzas queue
    CLOSED = "closed"


STARTTLS: Final = f"{{{ns.TLS}}}starttls"
AUTH: Final = f"{{{ns.SASL}}}auth"
RESPONSE: Final = f"{{{ns.SASL}}}response"
ABORT: Final = f"{{{ns.SASL}}}abort"
AUTHENTICATE: Final = sasl2.AUTHENTICATE  # XEP-0388 SASL2
SASL2_RESPONSE: Final = sasl2.RESPONSE
SASL2_ABORT: Final = sasl2.ABORT
IQ: Final = f"{{{ns.CLIENT}}}iq"
MESSAGE: Final = f"{{{ns.CLIENT}}}message"
PRESENCE: Final = f"{{{ns.CLIENT}}}presence"
STANZAS: Final = frozenset((IQ, MESSAGE, PRESENCE))
SM_ENABLE: Final = sm.ENABLE
SM_RESUME: Final = sm.RESUME
SM_REQUEST: Final = sm.REQUEST
SM_ACK: Final = sm.ACK
CSI_ACTIVE: Final = csi.ACTIVE
CSI_INACTIVE: Final = csi.INACTIVE

ALLOWED: Final[dict[StreamState, frozenset[str]]] = {
    StreamState.NEGOTIATING: frozenset((STARTTLS, AUTH, AUTHENTICATE)),
    StreamState.SASL: frozenset((RESPONSE, ABORT, AUTH, SASL2_RESPONSE, SASL2_ABORT)),
    StreamState.WAIT_BIND: frozenset((IQ,)),
    StreamState.BOUND: STANZAS,
}

# Looked up only when ALLOWED says no: stanzas, the hot path, pay nothing for them.
NONZAS: Final[dict[StreamState, frozenset[str]]] = {
    StreamState.WAIT_BIND: frozenset((SM_RESUME, SM_ENABLE)),
    StreamState.BOUND: frozenset((SM_ENABLE, SM_REQUEST, SM_ACK, CSI_ACTIVE, CSI_INACTIVE)),
}

REFUSAL: Final[dict[StreamState, StreamErrorCondition]] = {
    StreamState.NEGOTIATING: StreamErrorCondition.NOT_AUTHORIZED,
    StreamState.SASL: StreamErrorCondition.POLICY_VIOLATION,
    StreamState.WAIT_BIND: StreamErrorCondition.NOT_AUTHORIZED,
    StreamState.BOUND: StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
}

TRANSITIONS: Final[dict[StreamState, frozenset[StreamState]]] = {
    StreamState.WAIT_HEADER: frozenset((StreamState.NEGOTIATING, StreamState.WAIT_BIND)),
    # SASL2 (XEP-0388) success has no stream restart: straight to WAIT_BIND, or to BOUND with
    # Bind 2 (XEP-0386); an inline resumption hands the connection over (the stream CLOSES)
    StreamState.NEGOTIATING: frozenset(
        (
            StreamState.TLS_HANDSHAKE,
            StreamState.SASL,
            StreamState.WAIT_RESTART,
            StreamState.WAIT_BIND,
            StreamState.BOUND,
        )
    ),
    StreamState.TLS_HANDSHAKE: frozenset((StreamState.WAIT_HEADER,)),
    StreamState.SASL: frozenset(
        (
            StreamState.SASL,
            StreamState.NEGOTIATING,
            StreamState.WAIT_RESTART,
            StreamState.WAIT_BIND,
            StreamState.BOUND,
        )
    ),
    StreamState.WAIT_RESTART: frozenset((StreamState.WAIT_HEADER,)),
    StreamState.WAIT_BIND: frozenset((StreamState.BOUND,)),
    StreamState.BOUND: frozenset((StreamState.HIBERNATING,)),
    StreamState.HIBERNATING: frozenset((StreamState.BOUND,)),
    StreamState.CLOSED: frozenset(),
}


def can_move(src: StreamState, dst: StreamState) -> bool:
    return dst is StreamState.CLOSED or dst in TRANSITIONS[src]
