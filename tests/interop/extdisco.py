"""XEP-0215 from a slixmpp client: slixmpp (1.17) has no plugin for it, so the raw iq is sent.

`services` and `credentials` return the `<service/>` attributes of the answer; an error answer
raises slixmpp's `IqError` (its `.iq["error"]["condition"]` names the condition).
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement

EXTDISCO = "urn:xmpp:extdisco:2"
SERVICES = f"{{{EXTDISCO}}}services"
CREDENTIALS = f"{{{EXTDISCO}}}credentials"
SERVICE = f"{{{EXTDISCO}}}service"
TIMEOUT = 10.0


async def ask(client: Any, to: str, payload: Element, *, type_: str = "get") -> Element:
    """Send `payload` in an iq of `type_` to `to`; the payload of the result."""
    iq = client.make_iq_get(ito=to) if type_ == "get" else client.make_iq_set(ito=to)
    iq.xml.append(payload)
    result = await iq.send(timeout=TIMEOUT)
    assert result["type"] == "result"
    children = list(result.xml)
    assert len(children) == 1, children
    answer: Element = children[0]
    assert answer.tag == payload.tag, answer.tag
    assert all(child.tag == SERVICE for child in answer), [child.tag for child in answer]
    return answer


async def services(client: Any, to: str, type_: str | None = None) -> list[dict[str, str]]:
    """`<services/>` (with `type` if given): each service's attributes, in order."""
    payload = Element(SERVICES)
    if type_ is not None:
        payload.set("type", type_)
    answer = await ask(client, to, payload)
    assert answer.get("type") == type_
    return [dict(service.attrib) for service in answer]


async def credentials(client: Any, to: str, **service: str) -> list[dict[str, str]]:
    """`<credentials><service .../></credentials>`: the attributes of each service answered."""
    payload = Element(CREDENTIALS)
    SubElement(payload, SERVICE, service)
    answer = await ask(client, to, payload)
    return [dict(el.attrib) for el in answer]
