"""Entity capabilities (XEP-0115) as the PEP service needs them: which nodes a client wants
notifications for (``<node>+notify`` features, XEP-0163 §4.2).

`parse_caps` reads ``<c node ver hash/>`` from a presence; `verification_string` computes the
§5.1 string of a disco#info answer; `CapsCache` keeps, by verification string, the
``+notify`` nodes of disco#info answers whose hash was checked (§5.4), least recently used
first out. An answer that cannot be checked (a hash other than SHA-1, a legacy ``ext`` caps
element, a mismatch) is used for the one session that sent it and never cached by ``ver``.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element

from xmpp_video.modules.pep.forms import FIELD, VALUE
from xmpp_video.modules.pep.names import FORM
from xmpp_video.stanza import namespaces as ns

C_TAG: Final = f"{{{ns.CAPS}}}c"
IDENTITY: Final = f"{{{ns.DISCO_INFO}}}identity"
FEATURE: Final = f"{{{ns.DISCO_INFO}}}feature"
XML_LANG: Final = f"{{{ns.XML}}}lang"
NOTIFY_SUFFIX: Final = "+notify"
HASHES: Final = {"sha-1": hashlib.sha1}


@dataclass(frozen=True, slots=True)
class Caps:
    node: str
    ver: str
    hash: str  # "" for legacy caps (no hash attribute)


def parse_caps(presence: Element) -> Caps | None:
    c = presence.find(C_TAG)
    if c is None:
        return None
    node, ver = c.get("node"), c.get("ver")
    if not node or not ver:
        return None
    return Caps(node, ver, c.get("hash", ""))


class InvalidDiscoInfo(ValueError):
    """A disco#info answer that XEP-0115 §5.4 says not to trust."""


def verification_string(query: Element, hash_name: str) -> str:
    """The §5.1 verification string of a disco#info ``<query/>`` with hash `hash_name`;
    raises `InvalidDiscoInfo` for an answer §5.4 rejects, KeyError for an unknown hash."""
    hasher = HASHES[hash_name]
    identities = [
        (el.get("category", ""), el.get("type", ""), el.get(XML_LANG, ""), el.get("name", ""))
        for el in query.iter(IDENTITY)
    ]
    features = [el.get("var", "") for el in query.iter(FEATURE)]
    if len(set(identities)) != len(identities) or len(set(features)) != len(features):
        raise InvalidDiscoInfo("duplicate identity or feature")
    parts = ["/".join(identity) for identity in sorted(identities)]
    parts.extend(sorted(features))
    forms: dict[str, list[tuple[str, list[str]]]] = {}
    for form in query.findall(FORM):
        form_type: str | None = None
        fields: list[tuple[str, list[str]]] = []
        for field in form.iter(FIELD):
            values = [v.text or "" for v in field.findall(VALUE)]
            if field.get("var") == "FORM_TYPE":
                if field.get("type") != "hidden":
                    break  # §5.4: a form whose FORM_TYPE is not hidden is ignored
                if len(values) != 1:
                    raise InvalidDiscoInfo("FORM_TYPE with other than one value")
                form_type = values[0]
            else:
                fields.append((field.get("var", ""), sorted(values)))
        else:
            if form_type is None:
                continue  # no FORM_TYPE: ignored
            if form_type in forms:
                raise InvalidDiscoInfo("two forms with the same FORM_TYPE")
            forms[form_type] = sorted(fields)
    for form_type in sorted(forms):
        parts.append(form_type)
        for var, values in forms[form_type]:
            parts.append(var)
            parts.extend(values)
    text = "".join(part + "<" for part in parts)
    return base64.b64encode(hasher(text.encode()).digest()).decode()


def notify_nodes(query: Element) -> frozenset[str]:
    """The nodes of the ``<node>+notify`` features of a disco#info ``<query/>``."""
    return frozenset(
        var[: -len(NOTIFY_SUFFIX)]
        for el in query.iter(FEATURE)
        if (var := el.get("var", "")).endswith(NOTIFY_SUFFIX) and len(var) > len(NOTIFY_SUFFIX)
    )


class CapsCache:
    """Verified ``ver`` → ``+notify`` nodes, at most `size` of them (least recently used
    out first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, frozenset[str]] = OrderedDict()

    def get(self, ver: str) -> frozenset[str] | None:
        nodes = self._entries.get(ver)
        if nodes is not None:
            self._entries.move_to_end(ver)
        return nodes

    def put(self, ver: str, nodes: frozenset[str]) -> None:
        self._entries[ver] = nodes
        self._entries.move_to_end(ver)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
