"""XEP-0191 §4 JID matching (as XEP-0016) and the registration rate-limit key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.jid import JID
from xmpp_video.modules.blocking import blocks, match_keys
from xmpp_video.modules.register import address_key

ROMEO_PHONE = JID.parse("romeo@montague.net/phone")


@pytest.mark.parametrize(
    ("item", "jid", "blocked"),
    [
        # user@domain/resource: only that resource
        ("romeo@montague.net/phone", "romeo@montague.net/phone", True),
        ("romeo@montague.net/phone", "romeo@montague.net/laptop", False),
        ("romeo@montague.net/phone", "romeo@montague.net", False),
        # user@domain: any resource, and the bare JID
        ("romeo@montague.net", "romeo@montague.net/phone", True),
        ("romeo@montague.net", "romeo@montague.net", True),
        ("romeo@montague.net", "benvolio@montague.net", False),
        # domain/resource: only that resource of the domain itself
        ("montague.net/bot", "montague.net/bot", True),
        ("montague.net/bot", "romeo@montague.net/bot", False),
        ("montague.net/bot", "montague.net", False),
        # domain: the domain, everyone at it, and its subdomains
        ("montague.net", "montague.net", True),
        ("montague.net", "montague.net/bot", True),
        ("montague.net", "romeo@montague.net/phone", True),
        ("montague.net", "romeo@chat.montague.net", True),
        ("montague.net", "romeo@capulet.net", False),
        ("montague.net", "romeo@notmontague.net", False),
    ],
)
def test_jid_matching(item: str, jid: str, blocked: bool) -> None:
    assert blocks(frozenset([item]), JID.parse(jid)) is blocked


def test_match_keys_most_specific_first() -> None:
    assert list(match_keys(JID.parse("romeo@chat.montague.net/phone"))) == [
        "romeo@chat.montague.net/phone",
        "romeo@chat.montague.net",
        "chat.montague.net",
        "montague.net",
        "net",
    ]
    assert list(match_keys(JID.parse("localhost"))) == ["localhost"]


_part = st.text(alphabet="abcdefgh", min_size=1, max_size=5)


@given(local=_part, domain=st.lists(_part, min_size=1, max_size=3), resource=_part)
def test_a_jid_is_blocked_by_each_of_its_keys_and_by_nothing_else(
    local: str, domain: list[str], resource: str
) -> None:
    jid = JID.parse(f"{local}@{'.'.join(domain)}/{resource}")
    keys = list(match_keys(jid))
    for key in keys:
        assert blocks({key}, jid)
    assert not blocks({f"{local}x@{jid.domain}", f"{jid.domain}/{resource}"}, jid)


@pytest.mark.parametrize(
    ("peer", "transport", "key"),
    [
        ("192.0.2.7:5555", "tcp", "192.0.2.7"),
        ("192.0.2.7", "websocket", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6:5555", "tcp", "2001:db8:1:2::/64"),  # ip:port, no brackets
        ("2001:db8::1:2:3:4:443", "tcp", "2001:db8::/64"),  # the port is no address group
        ("2001:db8:1:2:ffff::1", "websocket", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7:443", "tcp", "192.0.2.7"),
        ("unix-socket", "tcp", "unix-socket"),
    ],
)
def test_registration_rate_limit_key(peer: str, transport: str, key: str) -> None:
    assert address_key(peer, transport) == key
