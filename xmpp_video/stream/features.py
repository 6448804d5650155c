"""The <stream:features/> element for each negotiation step (RFC 6120 §4.3.2)."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.stanza import namespaces as ns

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
    features = Element(FEATURES)
    SubElement(features, f"{{{ns.BIND}}}bind")
    session = SubElement(features, f"{{{ns.SESSION}}}session")
    SubElement(session, f"{{{ns.SESSION}}}optional")
    features.extend(extra)
    return features
