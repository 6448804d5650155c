"""`stream.sasl2` and `stream.bind2`: parsing <authenticate>, building the answers."""

from __future__ import annotations

import base64
from xml.etree import ElementTree as ET

import pytest

from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure
from xmpp_video.stream import bind2, sasl2

NS = "urn:xmpp:sasl:2"


def parse(xml: str) -> sasl2.Authenticate:
    return sasl2.parse_authenticate(ET.fromstring(xml))


def test_parse_everything() -> None:
    request = parse(
        f"<authenticate xmlns='{NS}' mechanism='HT-SHA-256-NONE'>"
        "<initial-response>\n  AGp1bGlldA==\n</initial-response>"
        "<user-agent id='abc'><software>App</software><device>Phone</device></user-agent>"
        "<bind xmlns='urn:xmpp:bind:0'><tag>App</tag>"
        "<enable xmlns='urn:xmpp:sm:3' resume='true'/><enable xmlns='urn:xmpp:carbons:2'/>"
        "<inactive xmlns='urn:xmpp:csi:0'/></bind>"
        "<resume xmlns='urn:xmpp:sm:3' previd='p' h='3'/>"
        "<fast xmlns='urn:xmpp:fast:0' count='7' invalidate='1'/>"
        "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>"
        "</authenticate>"
    )
    assert request.mechanism == "HT-SHA-256-NONE"
    assert request.initial_response == b"\0juliet"
    assert request.user_agent == sasl2.UserAgent("abc", "App", "Phone")
    assert request.client_id == "abc"
    assert request.resume is not None
    assert request.resume.get("previd") == "p"
    assert request.fast == sasl2.FastRequest(7, True)
    assert request.request_token == "HT-SHA-256-NONE"
    assert request.bind is not None
    wanted = bind2.parse(request.bind)
    assert wanted.tag == "App"
    assert wanted.sm_enable is not None
    assert wanted.carbons
    assert wanted.inactive


def test_absent_and_empty_initial_response() -> None:
    assert parse(f"<authenticate xmlns='{NS}' mechanism='PLAIN'/>").initial_response is None
    empty = parse(f"<authenticate xmlns='{NS}' mechanism='X'><initial-response/></authenticate>")
    assert empty.initial_response == b""


@pytest.mark.parametrize(
    ("xml", "condition"),
    [
        (f"<authenticate xmlns='{NS}'/>", SaslCondition.MALFORMED_REQUEST),
        (
            f"<authenticate xmlns='{NS}' mechanism='P'><initial-response>*</initial-response>"
            "</authenticate>",
            SaslCondition.INCORRECT_ENCODING,
        ),
        (
            f"<authenticate xmlns='{NS}' mechanism='P'><user-agent id=''/></authenticate>",
            SaslCondition.MALFORMED_REQUEST,
        ),
        (
            f"<authenticate xmlns='{NS}' mechanism='P'><user-agent id='{'x' * 257}'/>"
            "</authenticate>",
            SaslCondition.MALFORMED_REQUEST,
        ),
        (
            f"<authenticate xmlns='{NS}' mechanism='P'><fast xmlns='urn:xmpp:fast:0' count='0'/>"
            "</authenticate>",
            SaslCondition.MALFORMED_REQUEST,
        ),
        (
            f"<authenticate xmlns='{NS}' mechanism='P'><fast xmlns='urn:xmpp:fast:0' count='-1'/>"
            "</authenticate>",
            SaslCondition.MALFORMED_REQUEST,
        ),
    ],
)
def test_refused(xml: str, condition: SaslCondition) -> None:
    with pytest.raises(SaslFailure) as caught:
        parse(xml)
    assert caught.value.condition is condition


def test_answers() -> None:
    success = sasl2.success(b"v=abc", "a@b/c", [bind2.bound([])])
    assert (
        success
        == (
            f"<success xmlns='{NS}'><additional-data>{base64.b64encode(b'v=abc').decode()}"
            "</additional-data><authorization-identifier>a@b/c</authorization-identifier>"
            "<bound xmlns='urn:xmpp:bind:0'/></success>"
        ).encode()
    )
    assert b"additional-data" not in sasl2.success(b"", "a@b", [])
    assert (
        sasl2.failure("not-authorized", "no")
        == (
            f"<failure xmlns='{NS}'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
            "<text>no</text></failure>"
        ).encode()
    )


def test_resources() -> None:
    key = b"k" * 32
    one = bind2.resource_id(key, "a@b", "client", "App")
    assert one == bind2.resource_id(key, "a@b", "client", "App")  # stable
    assert one != bind2.resource_id(key, "a@b", "other", "App")
    assert one != bind2.resource_id(key, "c@b", "client", "App")
    assert bind2.resource_id(None, "a@b", "client", "App") != bind2.resource_id(
        None, "a@b", "client", "App"
    )
    assert "client" not in one
    assert bind2.resource("App", one) == f"App/{one}"
    assert bind2.resource("", one) == one
    tag = ET.Element("{urn:xmpp:bind:0}bind")
    ET.SubElement(tag, "{urn:xmpp:bind:0}tag").text = " A\u0007pp "
    assert bind2.parse(tag).tag == "App"
