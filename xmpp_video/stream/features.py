"""The <stream:features/> element for each negotiation step (RFC 6120 §4.3.2)."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.stanza import namespaces as ns
from xmpp_video.stream import csi, sm

FEATURES = f"{{{ns.STREAM}}}features"


def pre_auth_features(*, offer_tls: bool, tls_required: bool, mechanisms: Iterable[str]) -> Element:
    features = Element(FEATURES)
    if offer_tls:
        starttls = SubElement(features, f"{{{ns.TLS}}}starttls")
        if tls_required:
            SubElement(starttls, f"{{{ns.TLS}}}required")
    mechs = list(mechanisms)
    if mechs:
        container = SubElement(features, f"{{{ns.SASL}}}mechanisms")
        for name in mechs:
            SubElement(container, f"{{{ns.SASL}}}mechanism").text = name
    return features


def post_auth_features(extra: Iterable[Element] = ()) -> Element:
    """After SASL: bind, and what a client can negotiate on this stream — stream management
    (XEP-0198: `<resume/>` now, `<enable/>` once bound) and client state indication (XEP-0352)."""
    features = Element(FEATURES)
    SubElement(features, f"{{{ns.BIND}}}bind")
    session = SubElement(features, f"{{{ns.SESSION}}}session")
    SubElement(session, f"{{{ns.SESSION}}}optional")
    SubElement(features, sm.FEATURE)
    SubElement(features, csi.FEATURE)
    features.extend(extra)
    return features
