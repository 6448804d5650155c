"""Paths with a fixed meaning (SPEC §4, §10)."""

from typing import Final

# both serve both protocols: the WebSocket subprotocol decides (xmpp: RFC 7395; none: JSON)
WEBSOCKET_PATHS: Final = frozenset({"/ws", "/xmpp-websocket"})
