"""XEP-0386 Bind 2 (``urn:xmpp:bind:0``): resource binding inside a SASL2 authentication. Pure.

The client puts ``<bind xmlns='urn:xmpp:bind:0'><tag>App</tag>…</bind>`` in its
``<authenticate>``; the server binds a resource it chooses, ``{tag}/{id}`` (the XEP's
recommended format), and answers ``<bound/>`` inside ``<success>`` with the results of the
features enabled inline: XEP-0198 ``<enable/>`` (→ ``<enabled/>``), XEP-0280 carbons
``<enable/>`` (no answer) and XEP-0352 ``<active/>``/``<inactive/>`` (no answer).

``id`` is stable for one client: an HMAC, under a server secret, of the account, the SASL2
user-agent id and the tag — the same installation gets the same resource at every login, and
the user-agent id cannot be read back from it (XEP-0386 §3.2). Without a user-agent id it is
random. A tag that is not a valid resource part, or is long, is shortened or dropped.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.stanza.namespaces import CARBONS
from xmpp_video.stream import csi, sm

NS: Final = "urn:xmpp:bind:0"
BIND: Final = f"{{{NS}}}bind"
MAX_TAG: Final = 64  # characters of the client's tag kept in the resource


@dataclass(frozen=True, slots=True)
class BindRequest:
    tag: str
    sm_enable: Element | None  # <enable xmlns='urn:xmpp:sm:3'/>
    carbons: bool
    inactive: bool  # begin in the XEP-0352 inactive state


def parse(el: Element) -> BindRequest:
    tag = "".join(c for c in (el.findtext(f"{{{NS}}}tag") or "") if c.isprintable())
    return BindRequest(
        tag=tag.strip()[:MAX_TAG],
        sm_enable=el.find(sm.ENABLE),
        carbons=el.find(f"{{{CARBONS}}}enable") is not None,
        inactive=el.find(csi.INACTIVE) is not None,
    )


def feature(inline: list[str]) -> Element:
    """``<bind xmlns='urn:xmpp:bind:0'>`` listing the ``inline`` feature namespaces."""
    bind = Element(BIND)
    if inline:
        container = SubElement(bind, f"{{{NS}}}inline")
        for var in inline:
            SubElement(container, f"{{{NS}}}feature", {"var": var})
    return bind


def resource_id(key: bytes | None, account: str, client_id: str | None, tag: str) -> str:
    """The server's part of the resource: stable per (account, client id, tag) under ``key``,
    random without a client id or a key."""
    if key is None or client_id is None:
        raw = secrets.token_bytes(9)
    else:
        message = "\0".join((account, client_id, tag)).encode()
        raw = hmac.digest(key, message, "sha256")[:9]
    return base64.urlsafe_b64encode(raw).decode()


def resource(tag: str, ident: str) -> str:
    return f"{tag}/{ident}" if tag else ident


def bound(children: list[Element]) -> Element:
    el = Element(f"{{{NS}}}bound")
    el.extend(children)
    return el
