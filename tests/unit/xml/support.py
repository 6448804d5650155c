"""Helpers shared by the XML stream tests."""

from collections.abc import Iterable
from itertools import pairwise
from xml.etree.ElementTree import Element

from xmpp_video.xml import ElementReceived, Event, StreamParser

HEADER = (
    b"<?xml version='1.0'?>"
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" to='example.com' version='1.0' xml:lang='en'>"
)
CLOSE = b"</stream:stream>"

Tree = tuple[str, tuple[tuple[str, str], ...], str | None, str | None, tuple["Tree", ...]]


def tree(element: Element) -> Tree:
    """A comparable picture of an element: tag, attributes, text, tail and children."""
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        element.text or None,
        element.tail or None,
        tuple(tree(child) for child in element),
    )


def pieces(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order, out of range ones clamped)."""
    points = sorted({min(max(cut, 0), len(data)) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


def feed_all(data: bytes, cuts: Iterable[int] = (), **limits: int) -> list[Event]:
    """Every event of ``data`` fed to a new parser in pieces cut at ``cuts``."""
    parser = StreamParser(**limits)
    events: list[Event] = []
    for piece in pieces(data, cuts):
        events += parser.feed(piece)
    return events


def feed_bytewise(data: bytes, **limits: int) -> list[Event]:
    return feed_all(data, range(len(data)), **limits)


def received(events: Iterable[Event]) -> list[ElementReceived]:
    return [event for event in events if isinstance(event, ElementReceived)]


def picture(events: Iterable[Event]) -> list[object]:
    """Events made comparable (Elements compare by identity)."""
    return [
        (tree(event.element), event.size) if isinstance(event, ElementReceived) else event
        for event in events
    ]
