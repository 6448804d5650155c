"""How stream-level pieces are framed on each transport. Pure.

Over TCP an XMPP stream is one XML document: ``<stream:stream>`` opens it, stanzas follow with
``jabber:client`` as the inherited default namespace, ``</stream:stream>`` ends it. Over
WebSocket (RFC 7395) every message is a complete XML document of its own: ``<open/>`` and
``<close/>`` in the framing namespace replace the stream header and end tag, and every element
declares its namespaces itself (``<message xmlns='jabber:client'>``,
``<stream:features xmlns:stream='…'>``).

A stream writes through a `Framing` and never needs to know which transport it is on; each call
returns exactly one top-level element, so a WebSocket channel can send each write as one message.
On input, `websocket_to_stream()` turns RFC 7395 messages back into the bytes of one continuous
stream for `StreamParser`.
"""

from __future__ import annotations

from typing import Final, Protocol
from xml.etree.ElementTree import Element

from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.xml.errors import XmlStreamError
from xmpp_video.xml.parser import StreamClosed, StreamOpened, StreamParser
from xmpp_video.xml.writer import STREAM_CLOSE, serialize, stream_error, stream_header

__all__ = [
    "FRAMING_NS",
    "TCP_FRAMING",
    "WEBSOCKET_FRAMING",
    "Framing",
    "websocket_to_stream",
]

FRAMING_NS: Final = "urn:ietf:params:xml:ns:xmpp-framing"
_OPEN_TAG: Final = f"{{{FRAMING_NS}}}open"
_CLOSE_TAG: Final = f"{{{FRAMING_NS}}}close"
_MAX_OPEN_SIZE: Final = 4096  # an <open/> is a few hundred bytes


class Framing(Protocol):
    """The bytes of each stream-level piece on one transport."""

    @property
    def close(self) -> bytes:
        """Ends the stream (sent before the transport closes)."""
        ...

    def header(self, *, from_: str, id_: str) -> bytes: ...

    def features(self, children: list[Element]) -> bytes: ...

    def error(self, condition: StreamErrorCondition, text: str = "") -> bytes: ...

    def stanza(self, element: Element) -> bytes: ...


class _TcpFraming:
    """RFC 6120: one XML document per stream."""

    __slots__ = ()

    @property
    def close(self) -> bytes:
        return STREAM_CLOSE

    def header(self, *, from_: str, id_: str) -> bytes:
        return stream_header(from_=from_, id_=id_)

    def features(self, children: list[Element]) -> bytes:
        inner = b"".join(serialize(child) for child in children)
        return b"<stream:features>" + inner + b"</stream:features>"

    def error(self, condition: StreamErrorCondition, text: str = "") -> bytes:
        return stream_error(condition, text)

    def stanza(self, element: Element) -> bytes:
        return serialize(element)


_STREAM_PREFIX: Final = f" xmlns:stream='{ns.STREAM}'".encode()


class _WebSocketFraming:
    """RFC 7395: one XML document per message."""

    __slots__ = ()

    @property
    def close(self) -> bytes:
        return f"<close xmlns='{FRAMING_NS}'/>".encode()

    def header(self, *, from_: str, id_: str) -> bytes:
        # from_ and id_ are a prepared domain and a hex id: nothing to escape
        return (
            f"<open xmlns='{FRAMING_NS}' from='{from_}' id='{id_}' version='1.0' xml:lang='en'/>"
        ).encode()

    def features(self, children: list[Element]) -> bytes:
        inner = b"".join(serialize(child, default_ns="") for child in children)
        return b"<stream:features" + _STREAM_PREFIX + b">" + inner + b"</stream:features>"

    def error(self, condition: StreamErrorCondition, text: str = "") -> bytes:
        return b"<stream:error" + _STREAM_PREFIX + stream_error(condition, text)[13:]

    def stanza(self, element: Element) -> bytes:
        return serialize(element, default_ns="")


TCP_FRAMING: Final[Framing] = _TcpFraming()
WEBSOCKET_FRAMING: Final[Framing] = _WebSocketFraming()


def websocket_to_stream(message: bytes) -> bytes:
    """The stream bytes that stand for one RFC 7395 message.

    ``<open/>`` becomes a ``<stream:stream>`` header with its ``to``, ``version`` and ``xml:lang``;
    ``<close/>`` becomes ``</stream:stream>``; anything else (a stanza, a SASL element) is part of
    the stream as it is. Raises ``XmlStreamError`` for a malformed ``<open/>`` or ``<close/>``.
    """
    head = message.lstrip()
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2 :].lstrip()
    if not head.startswith((b"<open", b"<close")):
        return message
    if len(message) > _MAX_OPEN_SIZE:
        raise XmlStreamError(StreamErrorCondition.POLICY_VIOLATION, "framing element too large")
    parser = StreamParser(max_element_size=_MAX_OPEN_SIZE, max_depth=2)
    try:
        events = parser.feed(message)
    finally:
        parser.close()  # now, not at the cyclic garbage collector's next full run
    if not events or not isinstance(events[0], StreamOpened):
        return message  # e.g. "<openx…": not a framing element after all
    opened = events[0]
    if opened.tag not in (_OPEN_TAG, _CLOSE_TAG):
        return message
    if len(events) != 2 or not isinstance(events[1], StreamClosed):
        raise XmlStreamError(StreamErrorCondition.INVALID_XML, f"<{opened.tag}> must be empty")
    if opened.tag == _CLOSE_TAG:
        return STREAM_CLOSE
    attrs = opened.attrs
    header = stream_header(
        from_=attrs.get("from", ""),
        id_=None,
        to=attrs.get("to"),
        version=attrs.get("version", ""),
        lang=attrs.get(f"{{{ns.XML}}}lang", ""),
    )
    # without its XML declaration: an <open/> that is not a restart then reads as an element
    # of the current stream (refused as such), not as a misplaced declaration
    return header[header.index(b"<stream:stream") :]
