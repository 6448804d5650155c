"""Push parser for an XMPP XML stream (RFC 6120 §4, §11): bytes in, events out. Sans-IO.

Built on the C expat parser (``xml.parsers.expat``) with namespace processing; every complete
top-level child of the stream root comes out as an ``xml.etree.ElementTree.Element`` with
Clark-notation names (``{jabber:client}message``, ``{http://www.w3.org/XML/1998/namespace}lang``).

Limits and restrictions enforced here (each raises ``XmlStreamError`` with the condition to send):

- restricted XML (§11.1): DOCTYPE/DTD, entity declarations, references to entities other than
  the five predefined ones, processing instructions (a second XML declaration included) and
  comments → ``restricted-xml``. The DOCTYPE handler aborts expat before it reads an internal
  subset, so no entity is ever declared, let alone expanded.
- malformed input (expat errors, invalid UTF-8, unbound prefixes) → ``not-well-formed``; an XML
  declaration naming an encoding other than UTF-8, or UTF-16 input → ``unsupported-encoding``.
- non-whitespace character data directly inside the stream root → ``bad-format``.
- a top-level element (stanza or nonza) larger than ``max_element_size`` bytes, or a stream
  header (XML declaration + root start tag) larger than that → ``policy-violation``, raised by the
  ``feed()`` whose data crosses the limit, without waiting for the element to end. Elements nested
  deeper than ``max_depth`` (the top-level element is depth 1) → ``policy-violation``.
- a markup token (start tag, comment, ...) still unfinished after a ``feed()`` and already 16 KiB
  long (or ``max_element_size``, if smaller) → ``policy-violation``. expat re-scans an unfinished
  token from its first byte on every ``feed()``; without this bound a peer trickling a 256 KiB
  attribute value one byte per segment would cost minutes of CPU (quadratic). No real XMPP start
  tag comes near 16 KiB; text is not concerned (expat hands it over as it arrives).

Whitespace between top-level elements (keepalives) is skipped, and so is whitespace before a
document's first byte (strictly not XML, but a keepalive sent just before a restarted stream's
header should not kill the stream).

Sizes: ``ElementReceived.size`` is the number of bytes from the ``<`` of the element's start tag
to the ``>`` of its end tag (or of its empty-element tag), inclusive.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Final, NoReturn, TypeAlias
from xml.etree.ElementTree import Element, SubElement
from xml.parsers import expat
from xml.parsers.expat import errors as expat_errors

from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.xml.errors import XmlStreamError

__all__ = ["ElementReceived", "Event", "StreamClosed", "StreamOpened", "StreamParser"]


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The root start tag (``<stream:stream ...>``) was read. ``tag`` and ``attrs`` keys are Clark
    names; ``default_ns`` is the default namespace declared on the root, or None."""

    tag: str
    attrs: dict[str, str]
    default_ns: str | None


@dataclass(frozen=True, slots=True)
class ElementReceived:
    """One complete top-level child of the root (a stanza or a nonza) and its size on the wire."""

    element: Element
    size: int


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The root end tag (``</stream:stream>``) was read."""


Event: TypeAlias = StreamOpened | ElementReceived | StreamClosed

_NOT_WELL_FORMED: Final = StreamErrorCondition.NOT_WELL_FORMED
_RESTRICTED_XML: Final = StreamErrorCondition.RESTRICTED_XML
_FED_AFTER_CLOSE: Final = StreamErrorCondition.INTERNAL_SERVER_ERROR  # a bug in the caller
_POLICY_VIOLATION: Final = StreamErrorCondition.POLICY_VIOLATION

# expat error codes that mean "an XML feature XMPP forbids" rather than "broken XML".
_RESTRICTED_CODES: Final = frozenset(
    expat_errors.codes[message]
    for message in (
        expat_errors.XML_ERROR_UNDEFINED_ENTITY,
        expat_errors.XML_ERROR_MISPLACED_XML_PI,
        expat_errors.XML_ERROR_RECURSIVE_ENTITY_REF,
        expat_errors.XML_ERROR_ASYNC_ENTITY,
        expat_errors.XML_ERROR_BINARY_ENTITY_REF,
        expat_errors.XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF,
        expat_errors.XML_ERROR_EXTERNAL_ENTITY_HANDLING,
        expat_errors.XML_ERROR_PARAM_ENTITY_REF,
        expat_errors.XML_ERROR_ENTITY_DECLARED_IN_PE,
        expat_errors.XML_ERROR_NOT_STANDALONE,
        expat_errors.XML_ERROR_AMPLIFICATION_LIMIT_BREACH,
    )
)
_ENCODING_CODES: Final = frozenset(
    expat_errors.codes[message]
    for message in (
        expat_errors.XML_ERROR_UNKNOWN_ENCODING,
        expat_errors.XML_ERROR_INCORRECT_ENCODING,
    )
)
# First bytes of a UTF-16 or UTF-32 document (byte order marks, or "<" as a wide character).
_WIDE_STARTS: Final = (b"\xfe\xff", b"\xff\xfe", b"\x00<", b"<\x00", b"\x00\x00")

# A complete start tag; quoted attribute values may contain ">" and "/".
_START_TAG: Final = re.compile(rb"<[^'\">]*(?:(?:'[^']*'|\"[^\"]*\")[^'\">]*)*>")

# Longest unfinished markup token allowed to wait for more data (see the module docstring).
_MAX_PENDING_TOKEN: Final = 16384

# pyexpat's character data buffer (``buffer_text``), allocated for every parser, that is for every
# connection. Text that expat hands over in one larger piece bypasses it, and pieces beyond it come
# in several handler calls, which ``on_text`` joins: 1 KiB parses small and the largest stanzas as
# fast as 64 KiB did (expat's own work dominates) for some 7 KB less per parser.
_TEXT_BUFFER_SIZE: Final = 1024

# Caches of name conversions, cleared when they reach this many entries (names are chosen by the
# peer: an unbounded cache would be a memory leak it controls).
_CACHE_LIMIT: Final = 4096
# The caches are shared by all parsers (of one thread: the event loop's), and so is pyexpat's
# string interning: most names are the same on every stream, and a parser costs less memory.
_INTERNED: Final[dict[str, str]] = {}
_NAMES: Final[dict[str, str]] = {}  # expat name ("uri}local") -> Clark name ("{uri}local")
_PLAIN: Final[set[str]] = set()  # attribute names seen without a namespace

# Parser states.
_PROLOG: Final = 0  # before the root start tag
_OPEN: Final = 1  # inside the root
_CLOSED: Final = 2  # after the root end tag


_Feed: TypeAlias = Callable[[bytes], list[Event]]
_Translate: TypeAlias = Callable[[expat.ExpatError], XmlStreamError]
# Ends a document's expat parser: see ``_new_document``.
_Close: TypeAlias = Callable[[bool], tuple[bytes, int] | None]

# ElementReceived is built once per stanza: filling its slots directly skips the frozen
# dataclass __init__ (an object.__setattr__ call per field), about 0.4 µs of the ~6 µs a stanza
# takes.
_new_received = ElementReceived.__new__
_set_element = ElementReceived.__dict__["element"].__set__
_set_size = ElementReceived.__dict__["size"].__set__


class StreamParser:
    """Incremental parser of one XMPP stream (a sequence of XML documents, see ``reset()``).

    Feed it the bytes as they arrive; each ``feed()`` returns the events completed by these
    bytes, in order. The caller answers ``StreamOpened`` with its own stream header, handles each
    ``ElementReceived``, and closes the stream on ``StreamClosed``. On ``XmlStreamError`` it sends
    ``stream_error(exc.condition, exc.text)`` and closes: the parser is dead from then on.

    Memory: an expat parser and its closures take about 20 KB. ``compact()`` releases them while
    the stream is idle; ``reset()`` and failures release the old ones at once (they form a
    reference cycle that would otherwise wait for the cyclic garbage collector).
    """

    __slots__ = (
        "_close",
        "_failure",
        "_feed",
        "_header",
        "_max_depth",
        "_max_size",
        "_shift",
        "_translate",
    )

    def __init__(self, *, max_element_size: int = 262144, max_depth: int = 64) -> None:
        if max_element_size < 1 or max_depth < 1:
            raise ValueError("max_element_size and max_depth must be positive")
        self._max_size = max_element_size
        self._max_depth = max_depth
        self._failure: XmlStreamError | None = None
        self._header = b""  # while compacted: the stream header to replay
        self._shift = 0  # while compacted: document offset of the next byte, less the header's
        self._feed: _Feed | None
        self._translate: _Translate | None
        self._close: _Close | None
        self._feed, self._translate, self._close = _new_document(max_element_size, max_depth, 0)

    def reset(self) -> None:
        """Start a brand-new XML document (stream restart after STARTTLS or SASL success).

        Call it when the restart takes effect, i.e. before feeding the first bytes of the new
        stream; events that a previous ``feed()`` returned after the element that caused the
        restart belong to the old stream (RFC 6120 forbids them: discard them). A dead parser stays
        dead.
        """
        if self._close is not None:
            self._close(False)
        self._header = b""
        self._feed, self._translate, self._close = _new_document(self._max_size, self._max_depth, 0)

    def compact(self) -> bool:
        """Release the expat parser if the stream is idle between top-level elements.

        Meant for streams that have been quiet for a while: the next ``feed()`` builds a new
        expat parser and replays the stream header into it (some 20 µs), which is invisible to the
        caller: same events, same errors, same limits. Does nothing (returns False) inside an
        element, with an unfinished token pending, before the stream header or after the stream
        end. Returns True if memory was released.
        """
        close = self._close
        if close is None or self._failure is not None:
            return False
        resume = close(True)
        if resume is None:
            return False
        self._header, self._shift = resume
        self._feed = self._translate = self._close = None
        return True

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``, the next bytes of the stream; return the events they complete.

        Raises ``XmlStreamError`` if the stream is broken. Then, and ever after, the parser is
        dead; events that ``data`` completed before the error are dropped.
        """
        if self._failure is not None:
            raise XmlStreamError(self._failure.condition, self._failure.text)
        feed = self._feed
        try:
            if feed is None:
                feed = self._resume()
            return feed(data)
        except XmlStreamError as exc:
            # a copy without the traceback, whose frames would keep the dead parser alive
            self._failure = XmlStreamError(exc.condition, exc.text)
            self._release()
            raise
        except expat.ExpatError as exc:
            assert self._translate is not None
            failure = self._translate(exc)
            self._failure = XmlStreamError(failure.condition, failure.text)
            self._release()
            raise failure from None

    def close(self) -> None:
        """The stream is over: free the expat parser now. Its closures form a reference cycle
        that only the cyclic garbage collector's rare full runs would free (some 20 KB and two
        dozen objects per stream, piling up over thousands of connections). Feeding it
        afterwards raises ``XmlStreamError``."""
        if self._failure is None:
            self._failure = XmlStreamError(_FED_AFTER_CLOSE, "the stream is closed")
        self._header = b""
        self._release()

    def _resume(self) -> _Feed:
        """A new expat parser for a compacted stream, past the replayed stream header."""
        feed, self._translate, self._close = _new_document(
            self._max_size, self._max_depth, self._shift
        )
        self._feed = feed
        header, self._header = self._header, b""
        feed(header)  # its StreamOpened event was returned long ago
        return feed

    def _release(self) -> None:
        """Free the expat parser of a dead stream now."""
        close = self._close
        self._feed = self._translate = self._close = None
        if close is not None:
            close(False)


def _fail(condition: StreamErrorCondition, text: str) -> NoReturn:
    raise XmlStreamError(condition, text)


def _on_xml_declaration(version: str, encoding: str | None, standalone: int) -> None:
    if encoding is not None and encoding.upper() != "UTF-8":
        _fail(StreamErrorCondition.UNSUPPORTED_ENCODING, f"encoding {encoding!r}")


def _restricted(what: str) -> Callable[..., NoReturn]:
    def handler(*args: object) -> NoReturn:
        _fail(_RESTRICTED_XML, f"{what} not allowed")

    return handler


# Handlers without per-document state: shared by all parsers.
_SHARED_HANDLERS: Final = (
    ("XmlDeclHandler", _on_xml_declaration),
    ("StartDoctypeDeclHandler", _restricted("DOCTYPE")),
    ("EntityDeclHandler", _restricted("entity declaration")),
    ("CommentHandler", _restricted("comment")),
    ("ProcessingInstructionHandler", _restricted("processing instruction")),
    ("SkippedEntityHandler", _restricted("entity reference")),
    ("ExternalEntityRefHandler", _restricted("external entity")),
)
# The handlers that are closures over a document's state (CharacterDataHandler aside).
_DOCUMENT_HANDLERS: Final = (
    "StartElementHandler",
    "EndElementHandler",
    "StartNamespaceDeclHandler",
)


def _new_document(max_size: int, max_depth: int, shift: int) -> tuple[_Feed, _Translate, _Close]:
    """An expat parser for one XML document and the closures around it.

    The state lives in closure variables rather than instance attributes: the handlers run a few
    times per stanza and cell access is the cheapest state access Python offers.

    ``close(suspend)`` clears the parser's handlers: they refer to the parser through the closure
    cells, a cycle that only the cyclic garbage collector would otherwise break. With
    ``suspend``, it does so only at a point where the document can go on in a new parser (inside
    the root, between top-level elements, nothing pending) and returns the root start tag to
    replay into it and the ``shift`` to give it; otherwise it returns None and changes nothing.
    ``shift`` is the document offset of the new parser's first byte (for the error texts).
    """
    parser = expat.ParserCreate("UTF-8", "}", intern=_INTERNED)
    set_reparse_deferral = getattr(parser, "SetReparseDeferralEnabled", None)
    if set_reparse_deferral is not None:
        # expat >= 2.6 may hold complete tokens back until more data arrives; a stanza must be
        # delivered as soon as its last byte is in.
        set_reparse_deferral(False)
    parser.buffer_text = True
    parser.buffer_size = _TEXT_BUFFER_SIZE
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    interned = parser.intern

    stack: list[Element] = []  # the open elements below the root
    names = _NAMES
    plain = _PLAIN
    events: list[Event] = []
    state = _PROLOG
    default_ns: str | None = None
    root_tag = b""  # the root start tag as received (replayed after compact())
    chunk = b""  # the data being parsed
    base = 0  # stream offset of chunk[0]
    prev = prev2 = b""  # the previous two non-empty chunks
    head = b""  # the first bytes of the document
    start = 0  # stream offset of the current top-level element
    max_pending = min(max_size, _MAX_PENDING_TOKEN)

    def fix_attrs(attrs: dict[str, str]) -> dict[str, str]:
        fixed = {}
        for key, value in attrs.items():
            if "}" in key:
                fixed["{" + key] = value
            else:
                fixed[key] = value
                if len(plain) < _CACHE_LIMIT:
                    plain.add(key)
        return fixed

    def on_start(name: str, attrs: dict[str, str]) -> None:
        nonlocal start
        try:
            tag = names[name]
        except KeyError:
            tag = names[name] = "{" + name if "}" in name else name
        if attrs and not attrs.keys() <= plain:
            attrs = fix_attrs(attrs)
        if stack:
            stack.append(SubElement(stack[-1], tag, attrs))
            if len(stack) > max_depth:
                _fail(_POLICY_VIOLATION, "elements nested too deep")
        elif state == _OPEN:
            stack.append(Element(tag, attrs))
            start = parser.CurrentByteIndex
        else:
            open_root(tag, attrs)

    def open_root(tag: str, attrs: dict[str, str]) -> None:
        nonlocal state, root_tag
        if head[:2] in _WIDE_STARTS:
            # expat decodes UTF-16 (detected from the first bytes); XMPP allows only UTF-8.
            _fail(StreamErrorCondition.UNSUPPORTED_ENCODING, "UTF-8 only")
        # The context runs from this start tag to the end of expat's buffer: it holds the whole
        # tag even if the tag came in several pieces.
        match = _START_TAG.match(parser.GetInputContext() or b"")
        if parser.CurrentByteIndex + (match.end() if match else 0) > max_size:
            _fail(_POLICY_VIOLATION, "stream header too large")
        if match:
            root_tag = match.group()
        state = _OPEN
        parser.StartNamespaceDeclHandler = None
        events.append(StreamOpened(tag, attrs, default_ns))

    def on_end(name: str) -> None:
        nonlocal state
        if not stack:
            state = _CLOSED
            events.append(StreamClosed())
            return
        elem = stack.pop()
        if stack:
            return
        # A top-level element is complete: find where it ends. For an empty-element tag expat
        # reports the end at the byte after "/>", otherwise at the "<" of the end tag.
        index = parser.CurrentByteIndex
        rel = index - base
        if len(elem) or elem.text is not None or not ends_empty_tag(rel):
            # The end tag's ">" is in this chunk (expat just read it) and "</name >" contains no
            # other ">"; its "<" may be in an earlier chunk.
            gt = chunk.find(b">", rel if rel > 0 else 0)
            index = base + (gt + 1 if gt >= 0 else len(chunk))
        size = index - start
        if size > max_size:
            _fail(_POLICY_VIOLATION, "element too large")
        event = _new_received(ElementReceived)
        _set_element(event, elem)
        _set_size(event, size)
        events.append(event)

    def ends_empty_tag(rel: int) -> bool:
        """Whether the bytes before chunk offset ``rel`` are the "/>" ending an empty tag."""
        if rel >= 2:
            return chunk[rel - 2 : rel] == b"/>"
        # The ">" was read in this chunk; the "/" may be the last byte of the previous one.
        return rel == 1 and chunk[:1] == b">" and prev[-1:] == b"/"

    def on_text(data: str) -> None:
        if stack:
            elem = stack[-1]
            if len(elem):
                elem = elem[-1]
                tail = elem.tail
                elem.tail = data if tail is None else tail + data
            else:
                text = elem.text
                elem.text = data if text is None else text + data
        elif state == _OPEN and not data.isspace():
            _fail(StreamErrorCondition.BAD_FORMAT, "text directly inside the stream")

    def on_namespace(prefix: str | None, uri: str | None) -> None:
        nonlocal default_ns
        if prefix is None:
            default_ns = uri or None

    def feed(data: bytes) -> list[Event]:
        nonlocal events, chunk, base, prev, prev2, head
        events = []
        if base < 4:
            if base == 0:
                # Whitespace before the XML declaration is not XML, but a keepalive sent just
                # before a restarted stream's header is too innocent to kill the stream for.
                data = data.lstrip(b" \t\r\n")
            head = (head + data[:4])[:4]
        chunk = data
        parser.Parse(data, False)
        base += len(data)
        if data:
            prev2 = prev
            prev = data
        # After Parse, expat's position is the first byte of the unfinished token it keeps for
        # the next call (or the end of the data): the bytes after it are pending.
        pending = base - parser.CurrentByteIndex if parser.CurrentByteIndex >= 0 else base
        if stack:
            # Inside a top-level element: it has ``base - start`` bytes so far and needs at least
            # one more.
            if base - start >= max_size:
                _fail(_POLICY_VIOLATION, "element too large")
        elif pending >= max_size and state != _CLOSED:
            # An unfinished stream header or top-level start tag: one byte more at least.
            _fail(_POLICY_VIOLATION, "stream header or start tag too large")
        if pending >= max_pending:
            _fail(_POLICY_VIOLATION, "unfinished markup too large")
        if len(names) > _CACHE_LIMIT:
            names.clear()
        if interned is not None and len(interned) > _CACHE_LIMIT:
            interned.clear()
        return events

    def translate(exc: expat.ExpatError) -> XmlStreamError:
        code = exc.code
        offset = parser.ErrorByteIndex
        where = f"{expat_errors.messages.get(code, 'error')} at byte {offset + shift}"
        if code in _RESTRICTED_CODES:
            return XmlStreamError(_RESTRICTED_XML, where)
        if code in _ENCODING_CODES or (state == _PROLOG and head[:2] in _WIDE_STARTS):
            return XmlStreamError(StreamErrorCondition.UNSUPPORTED_ENCODING, "UTF-8 only")
        # A DTD declaration ("<!DOCTYPE", "<!ENTITY", ...) after the prolog: expat calls it an
        # invalid token at the byte after "<!", which may have come in the two previous chunks.
        window = prev2 + prev + chunk
        rel = offset - (base - len(prev) - len(prev2))
        if rel >= 2 and window[rel - 2 : rel] == b"<!" and window[rel : rel + 1] not in b"[-":
            return XmlStreamError(_RESTRICTED_XML, f"markup declaration at byte {offset + shift}")
        return XmlStreamError(_NOT_WELL_FORMED, where)

    def close(suspend: bool) -> tuple[bytes, int] | None:
        if suspend:
            index = parser.CurrentByteIndex
            pending = base - index if index >= 0 else base
            if state != _OPEN or stack or pending or not root_tag:
                return None
        # pyexpat hands the text it still holds to on_text first: none after a successful
        # Parse() (it flushes at the end of each), maybe some after an expat error. The document
        # is over: an error found now is not reported (and pyexpat clears all handlers on it).
        with suppress(XmlStreamError):
            parser.CharacterDataHandler = None
        for name in _DOCUMENT_HANDLERS:
            setattr(parser, name, None)
        return root_tag, shift + base - len(root_tag)

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    parser.CharacterDataHandler = on_text
    parser.StartNamespaceDeclHandler = on_namespace
    for name, handler in _SHARED_HANDLERS:
        setattr(parser, name, handler)
    return feed, translate, close
