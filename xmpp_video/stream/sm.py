"""XEP-0198 Stream Management (``urn:xmpp:sm:3``): the counters, the queue and the nonzas. Pure.

Each side counts the stanzas it *handled* from the other, modulo 2^32, from the moment
stream management is enabled (``<enable/>`` / ``<enabled/>``): ``handled`` is our ``h``, sent in
``<a h/>`` when the client asks with ``<r/>``, in ``<resumed h/>`` and in ``<failed h/>``.
Everything we send is kept in ``unacked`` until the client's ``h`` covers it; ``ack(h)`` drops
what it acknowledges. An ``h`` that acknowledges more than was ever sent is an error
(`HandledCountTooHigh`, XEP-0198 §4: the stream ends with ``<undefined-condition/>`` and
``<handled-count-too-high/>``).

Stanzas are kept as the ``Element`` objects that were delivered (shared with other recipients,
never copied: routed stanzas are not modified after delivery, see ``core.router``), so keeping
one costs a deque slot; resending after a resumption re-serializes them for whatever transport
the session is on by then.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.stanza import namespaces as ns

NS: Final = "urn:xmpp:sm:3"
ENABLE: Final = f"{{{NS}}}enable"
RESUME: Final = f"{{{NS}}}resume"
REQUEST: Final = f"{{{NS}}}r"
ACK: Final = f"{{{NS}}}a"
FEATURE: Final = f"{{{NS}}}sm"
MODULUS: Final = 1 << 32

R: Final = f"<r xmlns='{NS}'/>".encode()


class HandledCountTooHigh(Exception):
    """The peer acknowledged more stanzas than it was sent."""

    def __init__(self, h: int, sent: int) -> None:
        super().__init__(f"h={h} but only {sent} stanzas were sent")
        self.h = h
        self.sent = sent

    def element(self) -> bytes:
        """The ``<handled-count-too-high/>`` condition (XEP-0198 §4)."""
        return (
            f"<handled-count-too-high xmlns='{NS}' h='{self.h}' send-count='{self.sent}'/>".encode()
        )


def parse_h(value: str | None) -> int | None:
    """An ``h`` attribute: an unsigned 32-bit integer in decimal; None when it is not one."""
    if value is None or not value.isdigit() or not value.isascii() or len(value) > 10:
        return None
    h = int(value)
    return h if h < MODULUS else None


def truthy(value: str | None) -> bool:
    """An xs:boolean attribute (``resume='true'`` or ``'1'``)."""
    return value in ("true", "1")


class SmState:
    """One session's stream-management state (lives on the session, survives resumption)."""

    __slots__ = ("acked", "handled", "id", "requested", "unacked")

    def __init__(self, id_: str | None) -> None:
        self.id = id_  # the resumption id; None when resumption was not enabled
        self.handled = 0  # stanzas handled from the client, mod 2^32 (our h)
        self.acked = 0  # the client's last h: our stanzas it handled, mod 2^32
        self.unacked: deque[Element] = deque()  # sent (or queued) and not acknowledged
        self.requested = False  # an <r/> is out and not answered yet

    @property
    def resumable(self) -> bool:
        return self.id is not None

    @property
    def sent(self) -> int:
        """Stanzas sent since <enabled/>, mod 2^32."""
        return (self.acked + len(self.unacked)) % MODULUS

    def ack(self, h: int) -> int:
        """The client handled ``h`` (mod 2^32) of our stanzas: forget those. Returns how many
        were acknowledged now; raises `HandledCountTooHigh` (and changes nothing) when ``h``
        covers more than was sent."""
        count = (h - self.acked) % MODULUS
        unacked = self.unacked
        if count > len(unacked):
            raise HandledCountTooHigh(h, self.sent)
        if count == len(unacked):
            unacked.clear()
        else:
            for _ in range(count):
                unacked.popleft()
        self.acked = h
        return count


def enabled(id_: str | None, max_seconds: int) -> bytes:
    if id_ is None:
        return f"<enabled xmlns='{NS}'/>".encode()
    return f"<enabled xmlns='{NS}' id='{id_}' resume='true' max='{max_seconds}'/>".encode()


def ack(h: int) -> bytes:
    return f"<a xmlns='{NS}' h='{h}'/>".encode()


def resumed(previd: str, h: int) -> bytes:
    return f"<resumed xmlns='{NS}' previd='{previd}' h='{h}'/>".encode()


@dataclass(frozen=True, slots=True)
class ResumeRefused:
    """Why a ``<resume/>`` fails: the ``<failed/>`` to answer (``extra``: an application
    condition, such as ``<handled-count-too-high/>``)."""

    condition: str
    h: int | None = None
    extra: bytes = b""

    def element(self) -> Element:
        """``<failed/>`` as an element, for the SASL2 ``<success>`` (XEP-0388 inline), without
        ``extra``."""
        attrs = {} if self.h is None else {"h": str(self.h)}
        el = Element(f"{{{NS}}}failed", attrs)
        SubElement(el, f"{{{ns.STANZAS_ERRORS}}}{self.condition}")
        return el


def enabled_element(id_: str | None, max_seconds: int) -> Element:
    """``<enabled/>`` as an element (inside a Bind 2 ``<bound/>``)."""
    if id_ is None:
        return Element(f"{{{NS}}}enabled")
    attrs = {"id": id_, "resume": "true", "max": str(max_seconds)}
    return Element(f"{{{NS}}}enabled", attrs)


def resumed_element(previd: str, h: int) -> Element:
    return Element(f"{{{NS}}}resumed", {"previd": previd, "h": str(h)})


def failed(condition: str, h: int | None = None, extra: bytes = b"") -> bytes:
    """``<failed/>`` with a stanza error condition (``item-not-found``, ``unexpected-request``…)
    and, when known, our ``h``."""
    h_attr = "" if h is None else f" h='{h}'"
    return (
        f"<failed xmlns='{NS}'{h_attr}><{condition} xmlns='{ns.STANZAS_ERRORS}'/>".encode()
        + extra
        + b"</failed>"
    )
