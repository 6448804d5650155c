"""JID parsing and preparation (RFC 7622)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.jid import JID, InvalidJID


@pytest.mark.parametrize(
    ("text", "local", "domain", "resource"),
    [
        ("juliet@example.com", "juliet", "example.com", None),
        ("Juliet@EXAMPLE.com/Balcony", "juliet", "example.com", "Balcony"),
        ("example.com", None, "example.com", None),
        ("example.com/res/with/slash", None, "example.com", "res/with/slash"),
        ("a@b/c@d", "a", "b", "c@d"),
        ("ＪＵＬＩＥＴ@example.com", "juliet", "example.com", None),
    ],
)
def test_parse(text: str, local: str | None, domain: str, resource: str | None) -> None:
    jid = JID.parse(text)
    assert (jid.local, jid.domain, jid.resource) == (local, domain, resource)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@example.com",
        "juliet@",
        "juliet@example.com/",
        "ju liet@example.com",
        "ju<liet@example.com",
        "a" * 1024 + "@example.com",
        "juliet@exa mple.com",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidJID):
        JID.parse(text)


@given(st.text(max_size=40))
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        jid = JID.parse(text)
    except InvalidJID:
        return
    assert JID.parse(str(jid)) == jid


def test_bare_and_resource() -> None:
    jid = JID.parse("romeo@example.net/orchard")
    assert str(jid.bare) == "romeo@example.net"
    assert jid.bare.is_bare
    assert not jid.is_bare
    assert str(jid.bare.with_resource("garden")) == "romeo@example.net/garden"
