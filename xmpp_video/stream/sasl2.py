"""XEP-0388 Extensible SASL Profile (``urn:xmpp:sasl:2``): the feature and the nonzas. Pure.

The stream feature ``<authentication>`` lists the same mechanisms as SASL1 and, in ``<inline>``,
what may be negotiated with the authentication: Bind 2 (`stream.bind2`), XEP-0198 resumption
(``<sm xmlns='urn:xmpp:sm:3'/>``) and FAST tokens (XEP-0484, ``<fast>`` with its mechanisms).

`parse_authenticate` reads the client's ``<authenticate mechanism>``; it raises `SaslFailure`
with the condition to answer:

* no ``mechanism`` attribute, a ``<user-agent>`` whose ``id`` is empty or longer than
  `MAX_CLIENT_ID`, a FAST ``count`` that is not a positive integer → ``malformed-request``;
* ``<initial-response>`` that is not base64 → ``incorrect-encoding``;
* a mechanism that was not offered is the caller's check (``invalid-mechanism``).

An absent ``<initial-response>`` is None; an empty one is ``b""`` (there is no "=" here).
Whitespace inside base64 is ignored (the XEP's own examples wrap it).

After ``<success>`` there is no stream restart: the server sends new ``<stream:features>`` at
once. ``<continue>`` (tasks) is not used.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stream import sm
from xmpp_video.xml.writer import serialize

NS: Final = "urn:xmpp:sasl:2"
FAST_NS: Final = "urn:xmpp:fast:0"
BIND2_NS: Final = "urn:xmpp:bind:0"
FEATURE: Final = f"{{{NS}}}authentication"
AUTHENTICATE: Final = f"{{{NS}}}authenticate"
RESPONSE: Final = f"{{{NS}}}response"
ABORT: Final = f"{{{NS}}}abort"
MAX_CLIENT_ID: Final = 256
_MAX_COUNT: Final = (1 << 63) - 1
_WHITESPACE: Final = str.maketrans("", "", " \t\r\n")


@dataclass(frozen=True, slots=True)
class UserAgent:
    """``<user-agent id>``: ``id`` names the client installation (stable across connections)."""

    id: str | None
    software: str | None
    device: str | None


@dataclass(frozen=True, slots=True)
class FastRequest:
    """``<fast xmlns='urn:xmpp:fast:0' count invalidate/>``: the client authenticates with a
    token (and, with ``invalidate``, logs out: the token stops working)."""

    count: int | None
    invalidate: bool


@dataclass(frozen=True, slots=True)
class Authenticate:
    mechanism: str
    initial_response: bytes | None
    user_agent: UserAgent | None
    bind: Element | None  # <bind xmlns='urn:xmpp:bind:0'> (Bind 2)
    resume: Element | None  # <resume xmlns='urn:xmpp:sm:3'> (XEP-0198 inline)
    fast: FastRequest | None  # authenticating with a FAST token
    request_token: str | None  # <request-token mechanism>: the FAST mechanism wanted

    @property
    def client_id(self) -> str | None:
        return None if self.user_agent is None else self.user_agent.id


def _malformed(text: str) -> SaslFailure:
    return SaslFailure(SaslCondition.MALFORMED_REQUEST, text)


def decode(text: str | None) -> bytes:
    """Base64 SASL data (an empty element: empty data); `SaslFailure(incorrect-encoding)`."""
    try:
        return base64.b64decode((text or "").translate(_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):
        raise SaslFailure(SaslCondition.INCORRECT_ENCODING, "bad base64") from None


def _user_agent(el: Element) -> UserAgent:
    id_ = el.get("id")
    if id_ is not None and not 0 < len(id_) <= MAX_CLIENT_ID:
        raise _malformed("user-agent id must have 1 to 256 characters")
    return UserAgent(id_, el.findtext(f"{{{NS}}}software"), el.findtext(f"{{{NS}}}device"))


def _fast(el: Element) -> FastRequest:
    raw = el.get("count")
    count = None
    if raw is not None:
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= _MAX_COUNT:
            raise _malformed("FAST count must be a positive integer")
        count = int(raw)
    return FastRequest(count, sm.truthy(el.get("invalidate")))


def parse_authenticate(el: Element) -> Authenticate:
    mechanism = el.get("mechanism")
    if not mechanism:
        raise _malformed("authenticate needs a mechanism")
    initial = el.find(f"{{{NS}}}initial-response")
    agent = el.find(f"{{{NS}}}user-agent")
    fast = el.find(f"{{{FAST_NS}}}fast")
    request_token = el.find(f"{{{FAST_NS}}}request-token")
    return Authenticate(
        mechanism=mechanism,
        initial_response=None if initial is None else decode(initial.text),
        user_agent=None if agent is None else _user_agent(agent),
        bind=el.find(f"{{{BIND2_NS}}}bind"),
        resume=el.find(sm.RESUME),
        fast=None if fast is None else _fast(fast),
        request_token=None if request_token is None else request_token.get("mechanism", ""),
    )


def feature(mechanisms: list[str], inline: list[Element]) -> Element:
    """``<authentication>`` with ``mechanisms`` and, if any, the ``inline`` features."""
    authentication = Element(FEATURE)
    for name in mechanisms:
        SubElement(authentication, f"{{{NS}}}mechanism").text = name
    if inline:
        SubElement(authentication, f"{{{NS}}}inline").extend(inline)
    return authentication


def fast_feature(mechanisms: tuple[str, ...]) -> Element:
    fast = Element(f"{{{FAST_NS}}}fast")
    for name in mechanisms:
        SubElement(fast, f"{{{FAST_NS}}}mechanism").text = name
    return fast


def token(value: str, expiry: str) -> Element:
    """``<token xmlns='urn:xmpp:fast:0' token expiry/>`` (``expiry``: XEP-0082 DateTime)."""
    return Element(f"{{{FAST_NS}}}token", {"token": value, "expiry": expiry})


def challenge(data: bytes) -> bytes:
    return f"<challenge xmlns='{NS}'>{base64.b64encode(data).decode()}</challenge>".encode()


def failure(condition: str, text: str = "") -> bytes:
    el = Element(f"{{{NS}}}failure")
    SubElement(el, f"{{{ns.SASL}}}{condition}")
    if text:
        SubElement(el, f"{{{NS}}}text").text = text
    return serialize(el)


def success(additional_data: bytes, authorization_id: str, extra: list[Element]) -> bytes:
    """``<success>``: ``additional_data`` (omitted when empty), the authorization identifier
    (bare JID, or full JID once bound or resumed) and the inline results (``<bound>``,
    ``<resumed>``/``<failed>``, ``<token>``)."""
    el = Element(f"{{{NS}}}success")
    if additional_data:
        SubElement(el, f"{{{NS}}}additional-data").text = base64.b64encode(additional_data).decode()
    SubElement(el, f"{{{NS}}}authorization-identifier").text = authorization_id
    el.extend(extra)
    return serialize(el)
