"""XEP-0357 enable/disable parsing and the publish the server writes
(xmpp_video.modules.push.stanzas)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, fromstring

import pytest

from xmpp_video.modules.push.stanzas import (
    Summary,
    affiliation_removed,
    parse_disable,
    parse_enable,
    publish_iq,
)
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.xml import serialize

PUSH = "urn:xmpp:push:0"
DATA = "jabber:x:data"
PUBSUB = "http://jabber.org/protocol/pubsub"
OPTIONS = (
    f"<x xmlns='{DATA}'><field var='FORM_TYPE'><value>"
    "http://jabber.org/protocol/pubsub#publish-options</value></field>"
    "<field var='secret'><value>s3</value></field>"
    "<field var='multi'><value>a</value><value>b</value></field></x>"
)


def element(xml: str) -> Element:
    return fromstring(xml)


def test_enable_with_options() -> None:
    parsed = parse_enable(
        element(f"<enable xmlns='{PUSH}' jid='Push.Example/R' node='n1'>{OPTIONS}</enable>")
    )
    assert parsed.service == "push.example/R"  # prepared
    assert parsed.node == "n1"
    assert parsed.options == (("secret", ("s3",)), ("multi", ("a", "b")))


def test_enable_without_options_and_disable() -> None:
    assert parse_enable(element(f"<enable xmlns='{PUSH}' jid='p.example' node='n'/>")).options == ()
    assert parse_disable(element(f"<disable xmlns='{PUSH}' jid='p.example'/>")).node is None
    assert parse_disable(element(f"<disable xmlns='{PUSH}' jid='p.example' node='n'/>")).node == "n"


@pytest.mark.parametrize(
    ("xml", "condition"),
    [
        (f"<enable xmlns='{PUSH}' node='n'/>", "bad-request"),
        (f"<enable xmlns='{PUSH}' jid='p@q@r' node='n'/>", "jid-malformed"),
        (f"<enable xmlns='{PUSH}' jid='p.example'/>", "bad-request"),
        (f"<enable xmlns='{PUSH}' jid='p.example' node='{'n' * 1024}'/>", "not-acceptable"),
        (
            f"<enable xmlns='{PUSH}' jid='p.example' node='n'><x xmlns='{DATA}'>"
            "<field><value>v</value></field></x></enable>",
            "bad-request",
        ),
        (
            f"<enable xmlns='{PUSH}' jid='p.example' node='n'><x xmlns='{DATA}'>"
            "<field var='FORM_TYPE'><value>urn:other</value></field></x></enable>",
            "bad-request",
        ),
        (
            f"<enable xmlns='{PUSH}' jid='p.example' node='n'><x xmlns='{DATA}'>"
            + "".join(f"<field var='f{i}'/>" for i in range(33))
            + "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options"
            "</value></field></x></enable>",
            "not-acceptable",
        ),
        (f"<disable xmlns='{PUSH}'/>", "bad-request"),
    ],
)
def test_refused(xml: str, condition: str) -> None:
    parse = parse_disable if xml.startswith("<disable") else parse_enable
    with pytest.raises(StanzaError) as caught:
        parse(element(xml))
    assert caught.value.condition == condition


def test_publish_of_a_call() -> None:
    stanza = publish_iq(
        owner="juliet@capulet.lit",
        service="push.example",
        node="n1",
        options=(("secret", ("s3",)),),
        summary=Summary(2, "romeo@montague.lit", True, "propose", "c1"),
        id_="push-1",
    )
    assert serialize(stanza).decode() == (
        "<iq type='set' id='push-1' to='push.example' from='juliet@capulet.lit'>"
        f"<pubsub xmlns='{PUBSUB}'><publish node='n1'><item>"
        f"<notification xmlns='{PUSH}'><x xmlns='{DATA}' type='submit'>"
        "<field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
        "<field var='message-count'><value>2</value></field>"
        "<field var='last-message-sender'><value>romeo@montague.lit</value></field>"
        "<field var='last-message-priority'><value>high</value></field>"
        "<field var='x-call-action'><value>propose</value></field>"
        "<field var='x-call-id'><value>c1</value></field>"
        "</x></notification></item></publish>"
        f"<publish-options><x xmlns='{DATA}' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value>"
        "</field><field var='secret'><value>s3</value></field></x></publish-options>"
        "</pubsub></iq>"
    )


def test_publish_of_messages_without_options() -> None:
    stanza = publish_iq(
        owner="j@c.lit",
        service="p.example",
        node="n",
        options=(),
        summary=Summary(5, "", False),
        id_="x",
    )
    xml = serialize(stanza).decode()
    assert "publish-options" not in xml
    assert "last-message-sender" not in xml
    assert "<field var='last-message-priority'><value>normal</value></field>" in xml
    assert "x-call" not in xml


def test_remote_disabling() -> None:
    def message(inner: str) -> Element:
        return element(f"<message xmlns='jabber:client' from='p.example'>{inner}</message>")

    revoked = message(
        f"<pubsub xmlns='{PUBSUB}' node='n1'>"
        "<affiliation jid='j@c.lit' affiliation='none'/></pubsub>"
    )
    assert affiliation_removed(revoked, "j@c.lit") == "n1"
    assert affiliation_removed(revoked, "other@c.lit") is None
    publisher = message(
        f"<pubsub xmlns='{PUBSUB}' node='n1'>"
        "<affiliation jid='j@c.lit' affiliation='publisher'/></pubsub>"
    )
    assert affiliation_removed(publisher, "j@c.lit") is None
    assert affiliation_removed(message("<body>x</body>"), "j@c.lit") is None
