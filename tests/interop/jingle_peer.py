"""A test-side call peer that speaks JMI and Jingle the way Conversations does, over slixmpp.

It is independent of the product's call code: it builds its own stanzas (with ElementTree) from
the XEPs, so the tests check the server against the protocol rather than against itself.

Sending (JMI, XEP-0353, namespace ``urn:xmpp:jingle-message:0``): every message is
``type='chat'`` and carries ``<store xmlns='urn:xmpp:hints'/>``. As Conversations does, the
callee sends ``ringing`` and ``proceed`` to the caller's *full* JID (the ``from`` of the
propose), tells its own other devices with ``accept`` to its *bare* JID, and either party sends
``finish`` with a ``<reason>`` once the session is over. A propose has the message id
``jm-propose-<call id>`` and asks for a receipt; a proceed has ``jm-proceed-<call id>``.

Sending (Jingle, XEP-0166 with XEP-0167 RTP, XEP-0176 ICE-UDP, XEP-0320 DTLS fingerprint,
XEP-0293 rtcp-fb, XEP-0294 header extensions, XEP-0338 BUNDLE, XEP-0339 sources): each iq is
sent and its result awaited; an error reply raises :class:`JingleIqError`, no reply within the
timeout raises :class:`TimeoutError`. The descriptions look like what libwebrtc offers (opus,
telephone-event, VP8 with rtx), so the payloads the server passes through are realistic.

Receiving: JMI messages (also carbon copies and MAM results, and offline deliveries stamped with
``<delay>``) land in ``peer.jmi`` as :class:`JmiMessage`; Jingle iq sets land in ``peer.jingle``
as :class:`JingleIq` and are acknowledged with an empty result unless ``auto_ack`` is off. Await
them with :meth:`JinglePeer.next_jmi` / :meth:`JinglePeer.next_jingle`; items that do not match
stay queued for a later call.

    async with call_peer(server, "bob@localhost", resource="phone", priority=-1) as bob:
        propose = await bob.next_jmi("propose")
        bob.ringing(propose.from_, propose.call_id)
"""

from __future__ import annotations

import asyncio
import secrets
import string
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from xml.etree.ElementTree import Element, SubElement

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.interop.slix import TIMEOUT, Client, connected
from tests.server_fixtures import PASSWORD, RunningServer

# -- namespaces ---------------------------------------------------------------------------

CLIENT = "jabber:client"
JMI = "urn:xmpp:jingle-message:0"
JINGLE = "urn:xmpp:jingle:1"
JINGLE_ERRORS = "urn:xmpp:jingle:errors:1"
RTP = "urn:xmpp:jingle:apps:rtp:1"
RTCP_FB = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
RTP_HDREXT = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
SSMA = "urn:xmpp:jingle:apps:rtp:ssma:0"
ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"
DTLS = "urn:xmpp:jingle:apps:dtls:0"
GROUPING = "urn:xmpp:jingle:apps:grouping:0"
HINTS = "urn:xmpp:hints"
RECEIPTS = "urn:xmpp:receipts"
DELAY = "urn:xmpp:delay"
FORWARD = "urn:xmpp:forward:0"
CARBONS = "urn:xmpp:carbons:2"
MAM_PREFIX = "urn:xmpp:mam:"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

JMI_KINDS = ("propose", "ringing", "proceed", "accept", "reject", "retract", "finish")
PROPOSE_ID_PREFIX = "jm-propose-"
PROCEED_ID_PREFIX = "jm-proceed-"
AUDIO_CONTENT = "0"  # libwebrtc's mids, which Conversations uses as content names
VIDEO_CONTENT = "1"
CONTENT_NAMES = {"audio": AUDIO_CONTENT, "video": VIDEO_CONTENT}

T = TypeVar("T")


def _ns(tag: str) -> str:
    return tag[1 : tag.index("}")] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _token(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _ssrc() -> int:
    return secrets.randbelow(2**32 - 1) + 1


def new_call_id() -> str:
    """A globally unique id, as XEP-0353 recommends (UUIDv4)."""
    return str(uuid.uuid4())


def element_signature(element: Element) -> tuple[Any, ...]:
    """A comparable view of an element (tag, attributes, trimmed text, children in order), to
    check that a payload crossed the server unchanged whatever the prefixes and whitespace."""
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        (element.text or "").strip(),
        tuple(element_signature(child) for child in element),
    )


# -- what the peer receives ---------------------------------------------------------------


@dataclass(frozen=True)
class JmiMessage:
    """A received message carrying a JMI element (directly, or forwarded by carbons or MAM)."""

    kind: str  # propose, ringing, proceed, accept, reject, retract, finish
    call_id: str
    from_: str  # the sender of the JMI message (the forwarded one's for carbons and MAM)
    to: str
    type: str  # the message's type attribute ("chat"; "error" for a bounce)
    reason: str | None  # the Jingle reason condition (decline, busy, success, cancel…)
    reason_text: str | None
    media: tuple[str, ...]  # propose: the media of each <description>
    carbon: str | None  # "received" / "sent" for a XEP-0280 carbon copy, else None
    mam: bool  # delivered as a XEP-0313 archive result
    delay_stamp: str | None  # XEP-0203 <delay> stamp (offline storage, MAM)
    store_hint: bool  # carries <store xmlns='urn:xmpp:hints'/>
    message_id: str | None
    element: Element = field(repr=False)  # the JMI element itself
    stanza: Element = field(repr=False)  # the message as received (outer one when forwarded)

    @property
    def delayed(self) -> bool:
        return self.delay_stamp is not None

    @property
    def forwarded(self) -> bool:
        return self.carbon is not None or self.mam


@dataclass(frozen=True)
class JingleIq:
    """A received Jingle iq set."""

    action: str
    sid: str
    from_: str
    to: str
    iq_id: str
    element: Element = field(repr=False)  # the <jingle/> element
    stanza: Any = field(repr=False)  # the slixmpp Iq, to answer it

    @property
    def initiator(self) -> str | None:
        return self.element.get("initiator")

    @property
    def responder(self) -> str | None:
        return self.element.get("responder")

    @property
    def reason(self) -> str | None:
        return _reason_condition(self.element.find(f"{{{JINGLE}}}reason"))

    def contents(self) -> list[Element]:
        return self.element.findall(f"{{{JINGLE}}}content")

    def content(self, name: str) -> Element:
        for content in self.contents():
            if content.get("name") == name:
                return content
        raise KeyError(f"no content {name!r} in {self.action}")

    def fingerprints(self) -> list[Element]:
        return self.element.findall(
            f"{{{JINGLE}}}content/{{{ICE_UDP}}}transport/{{{DTLS}}}fingerprint"
        )

    def candidates(self) -> list[Element]:
        return self.element.findall(
            f"{{{JINGLE}}}content/{{{ICE_UDP}}}transport/{{{ICE_UDP}}}candidate"
        )

    def payload_types(self, content: str) -> list[Element]:
        return self.content(content).findall(f"{{{RTP}}}description/{{{RTP}}}payload-type")


class JingleIqError(Exception):
    """The peer answered a Jingle iq with an error."""

    def __init__(self, stanza: Element) -> None:
        error = stanza.find(f"{{{CLIENT}}}error")
        self.stanza = stanza
        self.error_type: str | None = None if error is None else error.get("type")
        self.condition: str | None = None
        self.jingle_condition: str | None = None
        self.text: str | None = None
        for child in () if error is None else error:
            namespace, name = _ns(child.tag), _local(child.tag)
            if namespace == STANZAS and name == "text":
                self.text = child.text
            elif namespace == STANZAS:
                self.condition = name
            elif namespace == JINGLE_ERRORS:
                self.jingle_condition = name
        super().__init__(
            f"iq error from {stanza.get('from')}: {self.condition}"
            + (f" ({self.jingle_condition})" if self.jingle_condition else "")
            + (f": {self.text}" if self.text else "")
        )


class Inbox(Generic[T]):
    """Received items in arrival order; `get` takes the first that matches and waits otherwise."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.received: list[T] = []  # everything, ever (never consumed)
        self._pending: list[T] = []
        self._arrived = asyncio.Event()

    def put(self, item: T) -> None:
        self.received.append(item)
        self._pending.append(item)
        self._arrived.set()

    @property
    def pending(self) -> list[T]:
        return list(self._pending)

    def _take(self, match: Callable[[T], bool]) -> T | None:
        for index, item in enumerate(self._pending):
            if match(item):
                del self._pending[index]
                return item
        return None

    async def get(self, match: Callable[[T], bool], timeout: float, description: str) -> T:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    item = self._take(match)
                    if item is not None:
                        return item
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise TimeoutError(
                f"no {self.what} {description} within {timeout}s; pending: {self._pending!r}"
            ) from None

    async def expect_none(
        self, match: Callable[[T], bool], within: float, description: str
    ) -> None:
        try:
            item = await self.get(match, within, description)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {self.what} {description}: {item!r}")


# -- parsing ------------------------------------------------------------------------------


def _reason_condition(reason: Element | None) -> str | None:
    if reason is None:
        return None
    for child in reason:
        if _local(child.tag) != "text":
            return _local(child.tag)
    return None


def _child_message(forwarded: Element | None) -> Element | None:
    if forwarded is None:
        return None
    for child in forwarded:
        if _local(child.tag) == "message":
            return child
    return None


def _delay_stamp(element: Element | None) -> str | None:
    delay = None if element is None else element.find(f"{{{DELAY}}}delay")
    return None if delay is None else delay.get("stamp")


def parse_jmi(message: Element) -> JmiMessage | None:
    """The JMI content of a received message, or None when it carries none."""
    inner = message
    carbon: str | None = None
    mam = False
    delay = _delay_stamp(message)
    for child in message:
        namespace, name = _ns(child.tag), _local(child.tag)
        if namespace == CARBONS and name in ("received", "sent"):
            forwarded = child.find(f"{{{FORWARD}}}forwarded")
            found = _child_message(forwarded)
            if found is not None:
                inner, carbon = found, name
                delay = _delay_stamp(forwarded) or _delay_stamp(found) or delay
        elif namespace.startswith(MAM_PREFIX) and name == "result":
            forwarded = child.find(f"{{{FORWARD}}}forwarded")
            found = _child_message(forwarded)
            if found is not None:
                inner, mam = found, True
                delay = _delay_stamp(forwarded) or _delay_stamp(found) or delay
    jmi = next((c for c in inner if _ns(c.tag) == JMI and _local(c.tag) in JMI_KINDS), None)
    if jmi is None:
        return None
    reason = jmi.find(f"{{{JINGLE}}}reason")
    text = None if reason is None else reason.findtext(f"{{{JINGLE}}}text")
    media = tuple(
        d.get("media", "") for d in jmi.findall(f"{{{RTP}}}description") if d.get("media")
    )
    return JmiMessage(
        kind=_local(jmi.tag),
        call_id=jmi.get("id", ""),
        from_=inner.get("from", ""),
        to=inner.get("to", ""),
        type=inner.get("type", "normal"),
        reason=_reason_condition(reason),
        reason_text=text,
        media=media,
        carbon=carbon,
        mam=mam,
        delay_stamp=delay,
        store_hint=inner.find(f"{{{HINTS}}}store") is not None,
        message_id=inner.get("id"),
        element=jmi,
        stanza=message,
    )


# -- building: JMI ------------------------------------------------------------------------


def reason_element(condition: str, text: str | None = None) -> Element:
    """XEP-0166 §7.4 ``<reason><condition/><text/>?</reason>``."""
    reason = Element(f"{{{JINGLE}}}reason")
    SubElement(reason, f"{{{JINGLE}}}{condition}")
    if text:
        SubElement(reason, f"{{{JINGLE}}}text").text = text
    return reason


def jmi_element(
    kind: str, call_id: str, *, media: Sequence[str] = (), reason: str | None = None
) -> Element:
    if kind not in JMI_KINDS:
        raise ValueError(f"not a JMI element: {kind!r}")
    element = Element(f"{{{JMI}}}{kind}", {"id": call_id})
    for name in media:
        SubElement(element, f"{{{RTP}}}description", {"media": name})
    if reason is not None:
        element.append(reason_element(reason))
    return element


# -- building: Jingle RTP sessions --------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An ICE candidate (XEP-0176 attributes)."""

    ip: str
    port: int
    foundation: str = "1"
    component: int = 1
    priority: int = 2122260223
    protocol: str = "udp"
    type: str = "host"
    generation: int = 0
    network: int = 1
    id: str = field(default_factory=lambda: _token(10, string.ascii_lowercase + string.digits))
    rel_addr: str | None = None
    rel_port: int | None = None

    def to_element(self) -> Element:
        attrs = {
            "component": str(self.component),
            "foundation": self.foundation,
            "generation": str(self.generation),
            "id": self.id,
            "ip": self.ip,
            "network": str(self.network),
            "port": str(self.port),
            "priority": str(self.priority),
            "protocol": self.protocol,
            "type": self.type,
        }
        if self.rel_addr is not None:
            attrs["rel-addr"] = self.rel_addr
        if self.rel_port is not None:
            attrs["rel-port"] = str(self.rel_port)
        return Element(f"{{{ICE_UDP}}}candidate", attrs)


@dataclass(frozen=True)
class MediaSetup:
    """What a real client's WebRTC stack would put in its SDP: ICE credentials, its DTLS
    certificate fingerprint, its sources and its candidates. One per peer."""

    ufrag: str
    pwd: str
    fingerprint: str
    cname: str
    stream_id: str
    audio_track: str
    video_track: str
    audio_ssrc: int
    video_ssrc: int
    rtx_ssrc: int
    candidates: tuple[Candidate, ...]

    @classmethod
    def generate(cls, host_ip: str = "192.0.2.10", port: int = 50000) -> MediaSetup:
        return cls(
            ufrag=_token(4),
            pwd=_token(24),
            fingerprint=":".join(f"{b:02X}" for b in secrets.token_bytes(32)),
            cname=_token(16),
            stream_id=str(uuid.uuid4()),
            audio_track=str(uuid.uuid4()),
            video_track=str(uuid.uuid4()),
            audio_ssrc=_ssrc(),
            video_ssrc=_ssrc(),
            rtx_ssrc=_ssrc(),
            candidates=(
                Candidate(host_ip, port, foundation="1"),
                Candidate(host_ip, port + 1, foundation="2", protocol="tcp", priority=1518280447),
            ),
        )


def _payload_type(
    parent: Element,
    id_: int,
    name: str,
    clockrate: int,
    channels: int | None = None,
    parameters: Iterable[tuple[str, str]] = (),
    feedback: Iterable[tuple[str, str | None]] = (),
) -> Element:
    attrs = {"id": str(id_), "name": name, "clockrate": str(clockrate)}
    if channels is not None:
        attrs["channels"] = str(channels)
    payload = SubElement(parent, f"{{{RTP}}}payload-type", attrs)
    for key, value in parameters:
        SubElement(payload, f"{{{RTP}}}parameter", {"name": key, "value": value})
    for type_, subtype in feedback:
        fb = {"type": type_} if subtype is None else {"type": type_, "subtype": subtype}
        SubElement(payload, f"{{{RTCP_FB}}}rtcp-fb", fb)
    return payload


def _hdrext(parent: Element, id_: int, uri: str) -> None:
    SubElement(parent, f"{{{RTP_HDREXT}}}rtp-hdrext", {"id": str(id_), "uri": uri})


def _source(parent: Element, ssrc: int, setup: MediaSetup, track: str) -> None:
    source = SubElement(parent, f"{{{SSMA}}}source", {"ssrc": str(ssrc)})
    SubElement(source, f"{{{SSMA}}}parameter", {"name": "cname", "value": setup.cname})
    SubElement(
        source, f"{{{SSMA}}}parameter", {"name": "msid", "value": f"{setup.stream_id} {track}"}
    )


TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


def rtp_description(media: str, setup: MediaSetup) -> Element:
    """A XEP-0167 description as libwebrtc would offer it for `media` ("audio" or "video")."""
    description = Element(f"{{{RTP}}}description", {"media": media})
    if media == "audio":
        _payload_type(
            description,
            111,
            "opus",
            48000,
            channels=2,
            parameters=[("minptime", "10"), ("useinbandfec", "1")],
            feedback=[("transport-cc", None)],
        )
        _payload_type(description, 0, "PCMU", 8000)
        _payload_type(description, 126, "telephone-event", 8000)
        _hdrext(description, 1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
        _hdrext(description, 2, ABS_SEND_TIME_URI)
        _hdrext(description, 3, TRANSPORT_CC_URI)
        _hdrext(description, 4, MID_URI)
        SubElement(description, f"{{{RTP_HDREXT}}}extmap-allow-mixed")
        _source(description, setup.audio_ssrc, setup, setup.audio_track)
    elif media == "video":
        _payload_type(
            description,
            96,
            "VP8",
            90000,
            feedback=[
                ("goog-remb", None),
                ("transport-cc", None),
                ("ccm", "fir"),
                ("nack", None),
                ("nack", "pli"),
            ],
        )
        _payload_type(description, 97, "rtx", 90000, parameters=[("apt", "96")])
        _hdrext(description, 14, "urn:ietf:params:rtp-hdrext:toffset")
        _hdrext(description, 2, ABS_SEND_TIME_URI)
        _hdrext(description, 13, "urn:3gpp:video-orientation")
        _hdrext(description, 3, TRANSPORT_CC_URI)
        _hdrext(description, 4, MID_URI)
        SubElement(description, f"{{{RTP_HDREXT}}}extmap-allow-mixed")
        _source(description, setup.video_ssrc, setup, setup.video_track)
        _source(description, setup.rtx_ssrc, setup, setup.video_track)
        group = SubElement(description, f"{{{SSMA}}}ssrc-group", {"semantics": "FID"})
        SubElement(group, f"{{{SSMA}}}source", {"ssrc": str(setup.video_ssrc)})
        SubElement(group, f"{{{SSMA}}}source", {"ssrc": str(setup.rtx_ssrc)})
    else:
        raise ValueError(f"unknown media {media!r}")
    SubElement(description, f"{{{RTP}}}rtcp-mux")
    return description


def ice_transport(
    setup: MediaSetup,
    *,
    dtls_setup: str | None = "actpass",
    candidates: Iterable[Candidate] | None = None,
) -> Element:
    """A XEP-0176 ICE-UDP transport with a XEP-0320 fingerprint (none when dtls_setup is None,
    as in a transport-info)."""
    transport = Element(f"{{{ICE_UDP}}}transport", {"ufrag": setup.ufrag, "pwd": setup.pwd})
    if dtls_setup is not None:
        fingerprint = SubElement(
            transport, f"{{{DTLS}}}fingerprint", {"hash": "sha-256", "setup": dtls_setup}
        )
        fingerprint.text = setup.fingerprint
    for candidate in setup.candidates if candidates is None else candidates:
        transport.append(candidate.to_element())
    return transport


def rtp_content(
    media: str,
    setup: MediaSetup,
    *,
    dtls_setup: str,
    candidates: Iterable[Candidate] | None = None,
) -> Element:
    content = Element(
        f"{{{JINGLE}}}content",
        {"creator": "initiator", "name": CONTENT_NAMES[media], "senders": "both"},
    )
    content.append(rtp_description(media, setup))
    content.append(ice_transport(setup, dtls_setup=dtls_setup, candidates=candidates))
    return content


def bundle_group(names: Iterable[str]) -> Element:
    """XEP-0338 ``<group semantics='BUNDLE'>`` over the given content names."""
    group = Element(f"{{{GROUPING}}}group", {"semantics": "BUNDLE"})
    for name in names:
        SubElement(group, f"{{{GROUPING}}}content", {"name": name})
    return group


def jingle_element(action: str, sid: str, *children: Element, **attributes: str | None) -> Element:
    """``<jingle xmlns='urn:xmpp:jingle:1' action sid …>``; None-valued attributes are left out."""
    attrs = {"action": action, "sid": sid}
    attrs.update({key: value for key, value in attributes.items() if value is not None})
    jingle = Element(f"{{{JINGLE}}}jingle", attrs)
    jingle.extend(children)
    return jingle


def session_description(
    action: str,
    sid: str,
    setup: MediaSetup,
    media: Sequence[str],
    *,
    dtls_setup: str,
    initiator: str | None = None,
    responder: str | None = None,
) -> Element:
    contents = [rtp_content(m, setup, dtls_setup=dtls_setup) for m in media]
    group = bundle_group(CONTENT_NAMES[m] for m in media)
    return jingle_element(action, sid, *contents, group, initiator=initiator, responder=responder)


# -- the peer -----------------------------------------------------------------------------


class JinglePeer:
    """A Conversations-style call peer on top of a connected slixmpp `Client`."""

    def __init__(
        self,
        client: Client,
        *,
        auto_ack: bool = True,
        iq_timeout: float = TIMEOUT,
        media_setup: MediaSetup | None = None,
    ) -> None:
        self.client = client
        self.auto_ack = auto_ack
        self.iq_timeout = iq_timeout
        self.media = media_setup or MediaSetup.generate()
        self.jmi: Inbox[JmiMessage] = Inbox("JMI message")
        self.jingle: Inbox[JingleIq] = Inbox("Jingle iq")
        self.sent_jingle: list[Element] = []  # every <jingle/> this peer sent, in order
        client.register_handler(
            Callback(
                f"jingle-peer messages {id(self)}",
                MatchXPath(f"{{{CLIENT}}}message"),
                self._on_message,
            )
        )
        client.register_handler(
            Callback(
                f"jingle-peer iqs {id(self)}",
                MatchXPath(f"{{{CLIENT}}}iq/{{{JINGLE}}}jingle"),
                self._on_jingle_iq,
            )
        )

    @property
    def jid(self) -> str:
        """This peer's full JID."""
        return str(self.client.boundjid.full)

    @property
    def bare(self) -> str:
        return str(self.client.boundjid.bare)

    # -- receiving ------------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        parsed = parse_jmi(message.xml)
        if parsed is not None:
            self.jmi.put(parsed)

    def _on_jingle_iq(self, iq: Any) -> None:
        xml: Element = iq.xml
        if xml.get("type") != "set":
            if xml.get("type") == "get":
                self._reply_error(iq, "bad-request", None, "modify")
            return
        jingle = xml.find(f"{{{JINGLE}}}jingle")
        assert jingle is not None  # the matcher selected it
        item = JingleIq(
            action=jingle.get("action", ""),
            sid=jingle.get("sid", ""),
            from_=xml.get("from", ""),
            to=xml.get("to", ""),
            iq_id=xml.get("id", ""),
            element=jingle,
            stanza=iq,
        )
        if self.auto_ack:
            self.ack(item)
        self.jingle.put(item)

    def ack(self, item: JingleIq) -> None:
        """Answer a Jingle iq with an empty result."""
        item.stanza.reply(clear=True).send()

    def reply_error(
        self,
        item: JingleIq,
        condition: str = "item-not-found",
        jingle_condition: str | None = "unknown-session",
        error_type: str = "cancel",
    ) -> None:
        """Answer a Jingle iq with an error (XEP-0166 §8 conditions)."""
        self._reply_error(item.stanza, condition, jingle_condition, error_type)

    @staticmethod
    def _reply_error(
        iq: Any, condition: str, jingle_condition: str | None, error_type: str
    ) -> None:
        reply = iq.reply(clear=True)
        reply.xml.set("type", "error")
        error = SubElement(reply.xml, f"{{{CLIENT}}}error", {"type": error_type})
        SubElement(error, f"{{{STANZAS}}}{condition}")
        if jingle_condition is not None:
            SubElement(error, f"{{{JINGLE_ERRORS}}}{jingle_condition}")
        reply.send()

    @staticmethod
    def _match_jid(actual: str, wanted: str | None) -> bool:
        return wanted is None or actual == wanted or actual.split("/", 1)[0] == wanted

    async def next_jmi(
        self,
        kind: str | None = None,
        timeout: float = TIMEOUT,
        *,
        call_id: str | None = None,
        from_: str | None = None,
    ) -> JmiMessage:
        """The first received JMI message matching (kind, call id, sender full or bare JID)."""
        return await self.jmi.get(
            lambda m: (
                (kind is None or m.kind == kind)
                and (call_id is None or m.call_id == call_id)
                and self._match_jid(m.from_, from_)
            ),
            timeout,
            f"{kind or 'any'} (call {call_id or 'any'}, from {from_ or 'anyone'})",
        )

    async def expect_no_jmi(
        self, kind: str | None = None, *, call_id: str | None = None, within: float = 0.5
    ) -> None:
        """Fails if a matching JMI message is or becomes pending within `within` seconds."""
        await self.jmi.expect_none(
            lambda m: (
                (kind is None or m.kind == kind) and (call_id is None or m.call_id == call_id)
            ),
            within,
            f"{kind or 'any'} (call {call_id or 'any'})",
        )

    async def next_jingle(
        self, action: str | None = None, timeout: float = TIMEOUT, *, sid: str | None = None
    ) -> JingleIq:
        """The first received Jingle iq matching (action, sid)."""
        return await self.jingle.get(
            lambda j: (action is None or j.action == action) and (sid is None or j.sid == sid),
            timeout,
            f"{action or 'any'} (sid {sid or 'any'})",
        )

    async def expect_no_jingle(
        self, action: str | None = None, *, sid: str | None = None, within: float = 0.5
    ) -> None:
        await self.jingle.expect_none(
            lambda j: (action is None or j.action == action) and (sid is None or j.sid == sid),
            within,
            f"{action or 'any'} (sid {sid or 'any'})",
        )

    # -- JMI ------------------------------------------------------------------------------

    def send_jmi(
        self,
        to: str,
        element: Element,
        *,
        message_id: str | None = None,
        extra: Iterable[Element] = (),
        store: bool = True,
    ) -> str:
        """Send a type='chat' message carrying `element` (and a store hint); returns its id."""
        message = self.client.make_message(mto=to, mtype="chat")
        message_id = message_id or f"jm-{_token(12)}"
        message.xml.set("id", message_id)
        message.xml.append(element)
        for child in extra:
            message.xml.append(child)
        if store:
            message.xml.append(Element(f"{{{HINTS}}}store"))
        message.send()
        return message_id

    def propose(
        self,
        to_bare: str,
        media: Sequence[str] = ("audio", "video"),
        call_id: str | None = None,
    ) -> str:
        """Ring every device of `to_bare`; returns the call id (the future Jingle sid)."""
        call_id = call_id or new_call_id()
        self.send_jmi(
            to_bare,
            jmi_element("propose", call_id, media=media),
            message_id=PROPOSE_ID_PREFIX + call_id,
            extra=[Element(f"{{{RECEIPTS}}}request")],
        )
        return call_id

    def ringing(self, caller_full: str, call_id: str) -> None:
        self.send_jmi(caller_full, jmi_element("ringing", call_id))

    def proceed(self, caller_full: str, call_id: str) -> None:
        self.send_jmi(
            caller_full, jmi_element("proceed", call_id), message_id=PROCEED_ID_PREFIX + call_id
        )

    def accept_elsewhere(self, call_id: str) -> None:
        """Tell this user's other devices that this one took the call (accept to own bare)."""
        self.send_jmi(self.bare, jmi_element("accept", call_id))

    def reject(self, to: str, call_id: str, reason: str = "decline") -> None:
        self.send_jmi(to, jmi_element("reject", call_id, reason=reason))

    def retract(self, to_bare: str, call_id: str, reason: str = "cancel") -> None:
        self.send_jmi(to_bare, jmi_element("retract", call_id, reason=reason))

    def finish(self, to: str, call_id: str, reason: str = "success") -> None:
        self.send_jmi(to, jmi_element("finish", call_id, reason=reason))

    # -- Jingle ---------------------------------------------------------------------------

    async def send_jingle(self, to: str, jingle: Element, timeout: float | None = None) -> Any:
        """Send `<iq type='set'>` with `jingle` and return the result iq (slixmpp stanza)."""
        iq: Any = self.client.Iq()
        iq["type"] = "set"
        iq["to"] = to
        iq.xml.append(jingle)
        self.sent_jingle.append(jingle)
        wait = self.iq_timeout if timeout is None else timeout
        try:
            return await iq.send(timeout=wait)
        except IqError as exc:
            raise JingleIqError(exc.iq.xml) from exc
        except IqTimeout as exc:
            raise TimeoutError(
                f"no answer to {jingle.get('action')} sent to {to} within {wait}s"
            ) from exc

    def build_session_initiate(
        self, sid: str, media: Sequence[str] = ("audio", "video")
    ) -> Element:
        return session_description(
            "session-initiate", sid, self.media, media, dtls_setup="actpass", initiator=self.jid
        )

    def build_session_accept(self, sid: str, media: Sequence[str] = ("audio", "video")) -> Element:
        return session_description(
            "session-accept", sid, self.media, media, dtls_setup="active", responder=self.jid
        )

    async def session_initiate(
        self,
        responder_full: str,
        sid: str,
        media: Sequence[str] = ("audio", "video"),
        *,
        jingle: Element | None = None,
    ) -> Any:
        return await self.send_jingle(
            responder_full,
            jingle if jingle is not None else self.build_session_initiate(sid, media),
        )

    async def session_accept(
        self,
        initiator_full: str,
        sid: str,
        media: Sequence[str] = ("audio", "video"),
        *,
        jingle: Element | None = None,
    ) -> Any:
        return await self.send_jingle(
            initiator_full, jingle if jingle is not None else self.build_session_accept(sid, media)
        )

    def build_transport_info(
        self, sid: str, candidate: Candidate, content: str = AUDIO_CONTENT
    ) -> Element:
        holder = Element(f"{{{JINGLE}}}content", {"creator": "initiator", "name": content})
        holder.append(ice_transport(self.media, dtls_setup=None, candidates=[candidate]))
        return jingle_element("transport-info", sid, holder)

    async def transport_info(
        self,
        peer_full: str,
        sid: str,
        candidate: Candidate,
        content: str = AUDIO_CONTENT,
        *,
        jingle: Element | None = None,
    ) -> Any:
        """Trickle one candidate (XEP-0176 transport-info)."""
        return await self.send_jingle(
            peer_full,
            jingle if jingle is not None else self.build_transport_info(sid, candidate, content),
        )

    async def session_terminate(
        self, peer_full: str, sid: str, reason: str = "success", text: str | None = None
    ) -> Any:
        return await self.send_jingle(
            peer_full, jingle_element("session-terminate", sid, reason_element(reason, text))
        )


@asynccontextmanager
async def call_peer(
    server: RunningServer,
    jid: str,
    password: str = PASSWORD,
    *,
    resource: str | None = None,
    priority: int | None = None,
    presence: bool = True,
    auto_ack: bool = True,
    direct_tls: bool = False,
    mechanism: str | None = None,
) -> AsyncIterator[JinglePeer]:
    """A logged-in call peer, like `connected(...)`: `jid` is bare (with `resource`) or full.
    Unless `presence` is off it fetches the roster and goes online with `priority`; its handlers
    are in place before, so offline deliveries reach its inboxes."""
    if resource is not None:
        if "/" in jid:
            raise ValueError(f"{jid} already names a resource")
        jid = f"{jid}/{resource}"
    async with connected(
        server, jid, password, direct_tls=direct_tls, mechanism=mechanism, presence=False
    ) as client:
        peer = JinglePeer(client, auto_ack=auto_ack)
        if presence:
            await client.get_roster(timeout=TIMEOUT)
            if priority is None:
                client.send_presence()
            else:
                client.send_presence(ppriority=priority)
            await client.next_presence(from_=client.boundjid.full)
        yield peer
