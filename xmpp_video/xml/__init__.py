"""The XML stream layer (RFC 6120 §4, §11): bytes in, events out; elements in, bytes out. Pure.

Contract for the connection code (one ``StreamParser`` per connection):

- ``parser.feed(data)`` for every chunk read; handle the returned events in order:

  - ``StreamOpened``: check ``tag``/``default_ns``/``attrs`` (to, version, xml:lang); answer with
    ``stream_header(...)`` then features, or with a stream error.
  - ``ElementReceived``: a complete stanza or nonza, ``size`` bytes on the wire. If it makes the
    stream restart (``<proceed/>`` sent after ``<starttls/>``, ``<success/>`` after SASL), call
    ``parser.reset()`` before feeding the bytes of the new stream, and discard the events that
    followed it in the same list (data sent before the peer could see our answer, which RFC 6120
    §5.4 and §6.4 forbid; for STARTTLS it is a plaintext injection: close the connection).
  - ``StreamClosed``: the peer closed its stream; send ``STREAM_CLOSE`` (if not sent yet) and close.

- ``XmlStreamError`` from ``feed()``: send ``stream_error(exc.condition, exc.text)`` and
  ``STREAM_CLOSE``, then close the connection. The parser is dead (``feed`` raises again, ``reset``
  does not revive it); events the failing chunk completed before the error are lost.

- Writing: ``serialize(element, default_ns=...)`` for each outgoing stanza, ``stream_header()``
  when opening, ``stream_error()`` and ``STREAM_CLOSE`` when closing.

Byte and depth limits (``max_element_size``, ``max_depth``) are constructor arguments; take them
from the typed settings. The caller bounds the size of each ``data`` (its read size): an
unfinished element is measured at the end of each ``feed()``, so one huge ``data`` is parsed
whole first.
"""

from xmpp_video.xml.errors import XmlStreamError
from xmpp_video.xml.parser import ElementReceived, Event, StreamClosed, StreamOpened, StreamParser
from xmpp_video.xml.writer import STREAM_CLOSE, serialize, stream_error, stream_header

__all__ = [
    "STREAM_CLOSE",
    "ElementReceived",
    "Event",
    "StreamClosed",
    "StreamOpened",
    "StreamParser",
    "XmlStreamError",
    "serialize",
    "stream_error",
    "stream_header",
]
