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
- a top-level element (stanza or nonza) larger than ``max_element_size`` bytes, a stream header
  (XML declaration + root start tag) larger than that, or bytes between two top-level elements
  that reach it without completing a start tag → ``policy-violation``, raised by the ``feed()``
  whose data crosses the limit, without waiting for the element to end. Elements nested deeper than
  ``max_depth`` (the top-level element is depth 1) → ``policy-violation``.

Sizes: ``ElementReceived.size`` is the number of bytes from the ``<`` of the element's start tag
to the ``>`` of its end tag (or of its empty-element tag), inclusive.
"""

import re
from dataclasses import dataclass
from typing import Final, TypeAlias
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

# Caches of name conversions, cleared when they reach this many entries (names are chosen by the
# peer: an unbounded cache would be a memory leak it controls).
_CACHE_LIMIT: Final = 4096

# Parser states.
_PROLOG: Final = 0  # before the root start tag
_OPEN: Final = 1  # inside the root
_CLOSED: Final = 2  # after the root end tag


class StreamParser:
    """Incremental parser of one XMPP stream (a sequence of XML documents, see ``reset()``).

    Feed it the bytes as they arrive; each ``feed()`` returns the events completed by these
    bytes, in order. The caller answers ``StreamOpened`` with its own stream header, handles each
    ``ElementReceived``, and closes the stream on ``StreamClosed``. On ``XmlStreamError`` it sends
    ``stream_error(exc.condition, exc.text)`` and closes: the parser is dead from then on.
    """

    __slots__ = (
        "_base",
        "_chunk",
        "_default_ns",
        "_events",
        "_failure",
        "_fed",
        "_last",
        "_mark",
        "_max_depth",
        "_max_size",
        "_names",
        "_parser",
        "_prev_byte",
        "_stack",
        "_start",
        "_state",
        "_tail",
    )

    def __init__(self, *, max_element_size: int = 262144, max_depth: int = 64) -> None:
        if max_element_size < 1 or max_depth < 1:
            raise ValueError("max_element_size and max_depth must be positive")
        self._max_size = max_element_size
        self._max_depth = max_depth
        self._failure: XmlStreamError | None = None
        self._names: dict[str, str] = {}
        self._events: list[Event] = []
        self._new_document()

    def reset(self) -> None:
        """Start a brand-new XML document (stream restart after STARTTLS or SASL success).

        Call it when the restart takes effect, i.e. before feeding the first bytes of the new
        stream; events that a previous ``feed()`` returned after the element that caused the
        restart belong to the old stream (RFC 6120 forbids them: discard them). A dead parser stays
        dead.
        """
        self._new_document()

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``, the next bytes of the stream; return the events they complete.

        Raises ``XmlStreamError`` if the stream is broken (then, and ever after, the parser is dead;
        events that ``data`` completed before the error are dropped).
        """
        if self._failure is not None:
            raise XmlStreamError(self._failure.condition, self._failure.text)
        events: list[Event] = []
        self._events = events
        self._chunk = data
        self._base = self._fed
        try:
            self._parser.Parse(data, False)
        except XmlStreamError as exc:
            self._failure = exc
            raise
        except expat.ExpatError as exc:
            self._failure = self._translate(exc)
            raise self._failure from None
        self._fed += len(data)
        if data:
            self._prev_byte = data[-1]
        if self._stack:
            # Inside a top-level element: it has ``fed - start`` bytes so far and needs at least
            # one more, so it can no longer fit.
            if self._fed - self._start >= self._max_size:
                self._fail(_POLICY_VIOLATION, "element too large")
        elif self._state != _CLOSED and self._fed - self._mark >= self._max_size:
            self._fail(_POLICY_VIOLATION, "stream header or start tag too large")
        if len(self._names) > _CACHE_LIMIT:
            self._names.clear()
        intern = self._parser.intern
        if intern is not None and len(intern) > _CACHE_LIMIT:
            intern.clear()
        return events

    # -- internals -------------------------------------------------------------------------------

    def _new_document(self) -> None:
        parser = expat.ParserCreate("UTF-8", "}")
        set_reparse_deferral = getattr(parser, "SetReparseDeferralEnabled", None)
        if set_reparse_deferral is not None:
            # expat >= 2.6 may hold complete tokens back until more data arrives; a stanza must be
            # delivered as soon as its last byte is in.
            set_reparse_deferral(False)
        parser.buffer_text = True
        parser.buffer_size = 65536
        parser.StartElementHandler = self._on_start
        parser.EndElementHandler = self._on_end
        parser.CharacterDataHandler = self._on_text
        parser.StartNamespaceDeclHandler = self._on_namespace
        parser.XmlDeclHandler = self._on_xml_declaration
        parser.StartDoctypeDeclHandler = self._on_doctype
        parser.EntityDeclHandler = self._on_entity_declaration
        parser.CommentHandler = self._on_comment
        parser.ProcessingInstructionHandler = self._on_processing_instruction
        parser.SkippedEntityHandler = self._on_skipped_entity
        parser.ExternalEntityRefHandler = self._on_external_entity
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self._parser = parser
        self._state = _PROLOG
        self._default_ns: str | None = None
        self._stack: list[Element] = []
        self._last: Element | None = None
        self._tail = False
        self._chunk = b""
        self._base = 0
        self._fed = 0
        self._start = 0
        self._mark = 0
        self._prev_byte = -1

    def _fail(self, condition: StreamErrorCondition, text: str) -> None:
        raise XmlStreamError(condition, text)

    def _translate(self, exc: expat.ExpatError) -> XmlStreamError:
        code = exc.code
        where = f"{expat_errors.messages.get(code, 'error')} at byte {self._parser.ErrorByteIndex}"
        if code in _RESTRICTED_CODES:
            return XmlStreamError(_RESTRICTED_XML, where)
        if code in _ENCODING_CODES:
            return XmlStreamError(StreamErrorCondition.UNSUPPORTED_ENCODING, where)
        if self._state == _PROLOG and self._base == 0 and self._chunk[:2] in _WIDE_STARTS:
            return XmlStreamError(StreamErrorCondition.UNSUPPORTED_ENCODING, "only UTF-8 is allowed")
        rel = self._parser.ErrorByteIndex - self._base
        if rel >= 2 and self._chunk[rel - 2 : rel] == b"<!" and self._chunk[rel : rel + 1] not in b"[-":
            return XmlStreamError(_RESTRICTED_XML, f"markup declaration at byte {rel + self._base}")
        return XmlStreamError(_NOT_WELL_FORMED, where)

    def _clark(self, name: str) -> str:
        clark = "{" + name if "}" in name else name
        self._names[name] = clark
        return clark

    def _on_start(self, name: str, attrs: dict[str, str]) -> None:
        tag = self._names.get(name) or self._clark(name)
        if attrs:
            for key in attrs:
                if "}" in key:
                    attrs = {("{" + k if "}" in k else k): v for k, v in attrs.items()}
                    break
        stack = self._stack
        if stack:
            elem = SubElement(stack[-1], tag, attrs)
            stack.append(elem)
            if len(stack) > self._max_depth:
                self._fail(_POLICY_VIOLATION, "elements nested too deep")
        elif self._state == _OPEN:
            elem = Element(tag, attrs)
            stack.append(elem)
            self._start = self._parser.CurrentByteIndex
        else:
            self._open_root(tag, attrs)
            return
        self._last = elem
        self._tail = False

    def _open_root(self, tag: str, attrs: dict[str, str]) -> None:
        parser = self._parser
        start = parser.CurrentByteIndex
        # The context runs from this start tag to the end of expat's buffer: it holds the whole tag
        # even if the tag came in several pieces.
        match = _START_TAG.match(parser.GetInputContext() or b"")
        end = start + match.end() if match else start
        if end > self._max_size:
            self._fail(_POLICY_VIOLATION, "stream header too large")
        self._mark = end
        self._state = _OPEN
        parser.StartNamespaceDeclHandler = None
        self._events.append(StreamOpened(tag, attrs, self._default_ns))

    def _on_end(self, name: str) -> None:
        stack = self._stack
        if not stack:
            self._state = _CLOSED
            self._events.append(StreamClosed())
            return
        elem = stack.pop()
        if stack:
            self._last = elem
            self._tail = True
            return
        # A top-level element is complete: find where it ends. For an empty-element tag, expat
        # reports the end event at the byte after "/>"; otherwise at the "<" of the end tag.
        index = self._parser.CurrentByteIndex
        rel = index - self._base
        chunk = self._chunk
        if len(elem) == 0 and elem.text is None and self._ends_empty_tag(rel):
            end = index
        else:
            # The end tag's ">" is in this chunk (expat just read it), and "</name>" contains no
            # other ">"; the "<" may be in an earlier chunk.
            end = self._base + chunk.find(b">", rel if rel > 0 else 0) + 1
        size = end - self._start
        if size > self._max_size:
            self._fail(_POLICY_VIOLATION, "element too large")
        self._mark = end
        self._events.append(ElementReceived(elem, size))

    def _ends_empty_tag(self, rel: int) -> bool:
        """Whether the bytes just before chunk offset ``rel`` are the "/>" of an empty tag."""
        chunk = self._chunk
        if rel >= 2:
            return chunk[rel - 2 : rel] == b"/>"
        # The "/" may be the last byte of the previous chunk; the ">" was read in this one.
        return rel == 1 and chunk[0] == 0x3E and self._prev_byte == 0x2F

    def _on_text(self, data: str) -> None:
        if self._stack:
            last = self._last
            assert last is not None
            if self._tail:
                tail = last.tail
                last.tail = data if tail is None else tail + data
            else:
                text = last.text
                last.text = data if text is None else text + data
        elif self._state == _OPEN:
            if not data.isspace():
                self._fail(StreamErrorCondition.BAD_FORMAT, "text directly inside the stream")
            # Buffered text is reported at the position of what follows it.
            self._mark = self._parser.CurrentByteIndex

    def _on_namespace(self, prefix: str | None, uri: str | None) -> None:
        if prefix is None:
            self._default_ns = uri or None

    def _on_xml_declaration(self, version: str, encoding: str | None, standalone: int) -> None:
        if encoding is not None and encoding.upper() != "UTF-8":
            self._fail(StreamErrorCondition.UNSUPPORTED_ENCODING, f"encoding {encoding!r}")

    def _on_doctype(self, *args: object) -> None:
        self._fail(_RESTRICTED_XML, "DOCTYPE is not allowed")

    def _on_entity_declaration(self, *args: object) -> None:
        self._fail(_RESTRICTED_XML, "entity declarations are not allowed")

    def _on_comment(self, data: str) -> None:
        self._fail(_RESTRICTED_XML, "comments are not allowed")

    def _on_processing_instruction(self, target: str, data: str) -> None:
        self._fail(_RESTRICTED_XML, "processing instructions are not allowed")

    def _on_skipped_entity(self, name: str, is_parameter_entity: bool) -> None:
        self._fail(_RESTRICTED_XML, "entity references are not allowed")

    def _on_external_entity(self, *args: object) -> int:
        self._fail(_RESTRICTED_XML, "external entities are not allowed")
        return 0
