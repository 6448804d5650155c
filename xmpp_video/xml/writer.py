"""Serialization of elements, stream headers and stream errors for an XMPP stream. Pure.

``serialize()`` writes an element as it appears inside a stream whose default namespace is
``default_ns``: namespaces in the default-namespace style (``<query xmlns='jabber:iq:roster'>``),
``xml:lang`` for the XML namespace, generated ``nsN`` prefixes for other namespaced attributes.
A top-level element in the streams namespace gets the ``stream:`` prefix that ``stream_header()``
declares, as clients expect ``<stream:features>``; deeper ones get ``xmlns=`` like any other, so
that a stanza serialized for storage (``default_ns=""``) parses on its own. Quotes are always
single quotes.

Text and attribute values must consist of XML characters (no NUL or other C0 controls except tab,
line feed and carriage return, no lone surrogates): elements from ``StreamParser`` always do, code
that builds elements from other input must check.
"""

from typing import Final
from xml.etree.ElementTree import Element

from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition

__all__ = ["STREAM_CLOSE", "serialize", "stream_error", "stream_header"]

STREAM_CLOSE: Final = b"</stream:stream>"

_XML_NS: Final = ns.XML
_STREAM_CLARK: Final = "{" + ns.STREAM + "}"
_CACHE_LIMIT: Final = 4096

# (tag, default namespace in scope) -> (start of the start tag, end tag, namespace for children)
_tags: dict[tuple[str, str], tuple[str, str, str]] = {}


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


_ATTR_TABLE: Final = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "'": "&apos;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
_ATTR_SPECIALS: Final = frozenset("&<>'\"\t\n\r")


def _escape_attr(value: str) -> str:
    if _ATTR_SPECIALS.isdisjoint(value):
        return value
    return value.translate(_ATTR_TABLE)


def _tag_parts(tag: str, default_ns: str) -> tuple[str, str, str]:
    if tag[:1] == "{":
        close = tag.rfind("}")
        uri, local = tag[1:close], tag[close + 1 :]
    else:
        uri, local = "", tag
    if uri == default_ns:
        parts = ("<" + local, "</" + local + ">", default_ns)
    else:
        parts = (f"<{local} xmlns='{_escape_attr(uri)}'", "</" + local + ">", uri)
    if len(_tags) >= _CACHE_LIMIT:
        _tags.clear()
    _tags[tag, default_ns] = parts
    return parts


def _write_attrs(out: list[str], attrib: dict[str, str]) -> None:
    prefixes: dict[str, str] | None = None
    for name, value in attrib.items():
        if name[:1] != "{":
            out.append(f" {name}='{_escape_attr(value)}'")
            continue
        close = name.rfind("}")
        uri, local = name[1:close], name[close + 1 :]
        if uri == _XML_NS:
            out.append(f" xml:{local}='{_escape_attr(value)}'")
            continue
        if prefixes is None:
            prefixes = {}
        prefix = prefixes.get(uri)
        if prefix is None:
            prefix = prefixes[uri] = f"ns{len(prefixes)}"
            out.append(f" xmlns:{prefix}='{_escape_attr(uri)}'")
        out.append(f" {prefix}:{local}='{_escape_attr(value)}'")


def _write(
    out: list[str], elem: Element, default_ns: str, parts: tuple[str, str, str] | None = None
) -> None:
    if parts is None:
        parts = _tags.get((elem.tag, default_ns)) or _tag_parts(elem.tag, default_ns)
    out.append(parts[0])
    if elem.attrib:
        _write_attrs(out, elem.attrib)
    text = elem.text
    if len(elem):
        out.append(">")
        if text:
            out.append(_escape_text(text))
        child_ns = parts[2]
        for child in elem:
            _write(out, child, child_ns)
            tail = child.tail
            if tail:
                out.append(_escape_text(tail))
        out.append(parts[1])
    elif text:
        out.append(">")
        out.append(_escape_text(text))
        out.append(parts[1])
    else:
        out.append("/>")


def serialize(element: Element, *, default_ns: str = ns.CLIENT) -> bytes:
    """UTF-8 bytes of ``element`` (without its tail) inside a stream whose default namespace is
    ``default_ns``. Send them as they are; the element is not modified."""
    out: list[str] = []
    tag = element.tag
    if tag.startswith(_STREAM_CLARK):
        local = tag[len(_STREAM_CLARK) :]
        _write(
            out, element, default_ns, ("<stream:" + local, "</stream:" + local + ">", default_ns)
        )
    else:
        _write(out, element, default_ns)
    return "".join(out).encode()


def stream_header(
    *,
    from_: str,
    id_: str | None,
    to: str | None = None,
    version: str = "1.0",
    lang: str = "en",
    default_ns: str = ns.CLIENT,
) -> bytes:
    """The XML declaration and ``<stream:stream>`` start tag opening a stream (RFC 6120 §4.7)."""
    out = [
        f"<?xml version='1.0'?><stream:stream xmlns='{_escape_attr(default_ns)}'"
        f" xmlns:stream='{ns.STREAM}' from='{_escape_attr(from_)}'"
    ]
    if id_ is not None:
        out.append(f" id='{_escape_attr(id_)}'")
    if to is not None:
        out.append(f" to='{_escape_attr(to)}'")
    if version:
        out.append(f" version='{_escape_attr(version)}'")
    if lang:
        out.append(f" xml:lang='{_escape_attr(lang)}'")
    out.append(">")
    return "".join(out).encode()


def stream_error(condition: StreamErrorCondition, text: str = "") -> bytes:
    """A ``<stream:error>`` (RFC 6120 §4.9); send it, then ``STREAM_CLOSE``, then close."""
    body = f"<{condition.value} xmlns='{ns.STREAMS_ERRORS}'/>"
    if text:
        body += f"<text xmlns='{ns.STREAMS_ERRORS}'>{_escape_text(text)}</text>"
    return f"<stream:error>{body}</stream:error>".encode()
