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

import re
from collections.abc import Callable
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

# expat's character data buffer (buffer_text), allocated per parser.
_TEXT_BUFFER_SIZE = 65536

# Caches of name conversions, cleared when they reach this many entries (names are chosen by the
# peer: an unbounded cache would be a memory leak it controls).
_CACHE_LIMIT: Final = 4096

# Parser states.
_PROLOG: Final = 0  # before the root start tag
_OPEN: Final = 1  # inside the root
_CLOSED: Final = 2  # after the root end tag


_Feed: TypeAlias = Callable[[bytes], list[Event]]
_Translate: TypeAlias = Callable[[expat.ExpatError], XmlStreamError]

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
    """

    __slots__ = ("_failure", "_feed", "_max_depth", "_max_size", "_translate")

    def __init__(self, *, max_element_size: int = 262144, max_depth: int = 64) -> None:
        if max_element_size < 1 or max_depth < 1:
            raise ValueError("max_element_size and max_depth must be positive")
        self._max_size = max_element_size
        self._max_depth = max_depth
        self._failure: XmlStreamError | None = None
        self._feed, self._translate = _new_document(max_element_size, max_depth)

    def reset(self) -> None:
        """Start a brand-new XML document (stream restart after STARTTLS or SASL success).

        Call it when the restart takes effect, i.e. before feeding the first bytes of the new
        stream; events that a previous ``feed()`` returned after the element that caused the
        restart belong to the old stream (RFC 6120 forbids them: discard them). A dead parser stays
        dead.
        """
        self._feed, self._translate = _new_document(self._max_size, self._max_depth)

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``, the next bytes of the stream; return the events they complete.

        Raises ``XmlStreamError`` if the stream is broken. Then, and ever after, the parser is
        dead; events that ``data`` completed before the error are dropped.
        """
        if self._failure is not None:
            raise XmlStreamError(self._failure.condition, self._failure.text)
        try:
            return self._feed(data)
        except XmlStreamError as exc:
            self._failure = exc
            raise
        except expat.ExpatError as exc:
            self._failure = self._translate(exc)
            raise self._failure from None


def _fail(condition: StreamErrorCondition, text: str) -> NoReturn:
    raise XmlStreamError(condition, text)


def _new_document(max_size: int, max_depth: int) -> tuple[_Feed, _Translate]:
    """An expat parser for one XML document and the closures around it.

    The state lives in closure variables rather than instance attributes: the handlers run a few
    times per stanza and cell access is the cheapest state access Python offers.
    """
    parser = expat.ParserCreate("UTF-8", "}")
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
    names: dict[str, str] = {}  # expat name ("uri}local") -> Clark name ("{uri}local")
    plain: set[str] = set()  # attribute names seen without a namespace
    events: list[Event] = []
    state = _PROLOG
    default_ns: str | None = None
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
        nonlocal state
        if head[:2] in _WIDE_STARTS:
            # expat decodes UTF-16 (detected from the first bytes); XMPP allows only UTF-8.
            _fail(StreamErrorCondition.UNSUPPORTED_ENCODING, "UTF-8 only")
        # The context runs from this start tag to the end of expat's buffer: it holds the whole
        # tag even if the tag came in several pieces.
        match = _START_TAG.match(parser.GetInputContext() or b"")
        if parser.CurrentByteIndex + (match.end() if match else 0) > max_size:
            _fail(_POLICY_VIOLATION, "stream header too large")
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

    def on_xml_declaration(version: str, encoding: str | None, standalone: int) -> None:
        if encoding is not None and encoding.upper() != "UTF-8":
            _fail(StreamErrorCondition.UNSUPPORTED_ENCODING, f"encoding {encoding!r}")

    def restricted(what: str) -> Callable[..., NoReturn]:
        def handler(*args: object) -> NoReturn:
            _fail(_RESTRICTED_XML, f"{what} not allowed")

        return handler

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
        where = f"{expat_errors.messages.get(code, 'error')} at byte {offset}"
        if code in _RESTRICTED_CODES:
            return XmlStreamError(_RESTRICTED_XML, where)
        if code in _ENCODING_CODES or (state == _PROLOG and head[:2] in _WIDE_STARTS):
            return XmlStreamError(StreamErrorCondition.UNSUPPORTED_ENCODING, "UTF-8 only")
        # A DTD declaration ("<!DOCTYPE", "<!ENTITY", ...) after the prolog: expat calls it an
        # invalid token at the byte after "<!", which may have come in the two previous chunks.
        window = prev2 + prev + chunk
        rel = offset - (base - len(prev) - len(prev2))
        if rel >= 2 and window[rel - 2 : rel] == b"<!" and window[rel : rel + 1] not in b"[-":
            return XmlStreamError(_RESTRICTED_XML, f"markup declaration at byte {offset}")
        return XmlStreamError(_NOT_WELL_FORMED, where)

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    parser.CharacterDataHandler = on_text
    parser.StartNamespaceDeclHandler = on_namespace
    parser.XmlDeclHandler = on_xml_declaration
    parser.StartDoctypeDeclHandler = restricted("DOCTYPE")
    parser.EntityDeclHandler = restricted("entity declaration")
    parser.CommentHandler = restricted("comment")
    parser.ProcessingInstructionHandler = restricted("processing instruction")
    parser.SkippedEntityHandler = restricted("entity reference")
    parser.ExternalEntityRefHandler = restricted("external entity")
    return feed, translate
