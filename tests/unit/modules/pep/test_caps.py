"""XEP-0115 verification strings (the examples of §5.2 and §5.3), validation and the cache."""

from __future__ import annotations

from xml.etree.ElementTree import fromstring

import pytest

from xmpp_video.modules.pep.caps import (
    CapsCache,
    InvalidDiscoInfo,
    notify_nodes,
    parse_caps,
    verification_string,
)

SIMPLE = """<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>"""

COMPLEX = """<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'>
      <value>urn:xmpp:dataforms:softwareinfo</value>
    </field>
    <field var='ip_version'>
      <value>ipv4</value>
      <value>ipv6</value>
    </field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>"""


def test_the_simple_example_of_section_5_2() -> None:
    assert verification_string(fromstring(SIMPLE), "sha-1") == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_the_complex_example_of_section_5_3() -> None:
    assert verification_string(fromstring(COMPLEX), "sha-1") == "q07IKJEyjvHSyhy//CH0CxmKi8w="


def test_answers_section_5_4_rejects() -> None:
    duplicate = SIMPLE.replace(
        "</query>", "<feature var='http://jabber.org/protocol/muc'/></query>"
    )
    with pytest.raises(InvalidDiscoInfo):
        verification_string(fromstring(duplicate), "sha-1")
    two_forms = COMPLEX.replace(
        "</query>", COMPLEX[COMPLEX.index("<x ") : COMPLEX.index("</x>") + 4] + "</query>"
    )
    with pytest.raises(InvalidDiscoInfo):
        verification_string(fromstring(two_forms), "sha-1")
    with pytest.raises(KeyError):
        verification_string(fromstring(SIMPLE), "md5")


def test_a_form_without_hidden_form_type_is_ignored() -> None:
    visible = COMPLEX.replace("var='FORM_TYPE' type='hidden'", "var='FORM_TYPE'")
    without_form = COMPLEX[: COMPLEX.index("<x ")] + "</query>"
    assert verification_string(fromstring(visible), "sha-1") == verification_string(
        fromstring(without_form), "sha-1"
    )


def test_notify_nodes_and_caps_element() -> None:
    query = fromstring(
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<feature var='urn:xmpp:avatar:metadata+notify'/><feature var='+notify'/>"
        "<feature var='urn:xmpp:avatar:metadata'/><feature var='x+notify'/></query>"
    )
    assert notify_nodes(query) == {"urn:xmpp:avatar:metadata", "x"}
    presence = fromstring(
        "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps'"
        " hash='sha-1' node='https://app' ver='abc='/></presence>"
    )
    caps = parse_caps(presence)
    assert caps is not None
    assert (caps.node, caps.ver, caps.hash) == ("https://app", "abc=", "sha-1")
    assert parse_caps(fromstring("<presence xmlns='jabber:client'/>")) is None


def test_the_cache_forgets_the_least_recently_used() -> None:
    cache = CapsCache(2)
    cache.put("a", frozenset({"1"}))
    cache.put("b", frozenset())
    assert cache.get("a") == {"1"}  # a is now the most recent
    cache.put("c", frozenset())
    assert cache.get("b") is None
    assert cache.get("a") == {"1"}
    assert len(cache) == 2
