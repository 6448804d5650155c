"""SASL PLAIN message parsing (RFC 4616)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.auth.plain import parse_plain
from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"\0tim\0tanstaaftanstaaf", (None, "tim", "tanstaaftanstaaf")),  # RFC 4616 §4
        (b"Ursel\0Kurt\0xipj3plmq", ("Ursel", "Kurt", "xipj3plmq")),  # RFC 4616 §4
        (
            "\0j\u00fcrgen\0p\u00e4ss w\u00f6rd".encode(),
            (None, "j\u00fcrgen", "p\u00e4ss w\u00f6rd"),
        ),
        (b"\0I\xc2\xadX\0pw", (None, "IX", "pw")),  # authcid is SASLprepped (soft hyphen)
        ("\0u\0p\u00a0w".encode(), (None, "u", "p\u00a0w")),  # password is returned as sent
        (b"a@example.com\0user\0pw", ("a@example.com", "user", "pw")),
    ],
)
def test_parse(message: bytes, expected: tuple[str | None, str, str]) -> None:
    assert parse_plain(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"userpw",
        b"user\0pw",  # one NUL
        b"\0user\0pw\0",  # three NULs
        b"\0\0user\0pw",
        b"\0\0pw",  # empty authcid
        b"\0user\0",  # empty password
        b"\0\xff\0pw",  # invalid UTF-8 in authcid
        b"\0user\0\xc3",  # truncated UTF-8 in password
        b"\xed\xa0\x80\0user\0pw",  # encoded surrogate in authzid
        b"\0us\x07er\0pw",  # prohibited by SASLprep
        b"\0\xc2\xad\0pw",  # SASLprep maps the authcid to nothing
    ],
)
def test_malformed(message: bytes) -> None:
    with pytest.raises(SaslFailure) as info:
        parse_plain(message)
    assert info.value.condition is SaslCondition.MALFORMED_REQUEST


@given(st.binary(max_size=64))
def test_fuzz_accepts_or_fails_with_sasl_failure(message: bytes) -> None:
    condition: SaslCondition | None
    try:
        authzid, authcid, password = parse_plain(message)
    except SaslFailure as failure:
        condition = failure.condition
    else:
        condition = None
        assert authzid is None or authzid
        assert authcid
        assert password
    assert condition in (None, SaslCondition.MALFORMED_REQUEST)


_safe = st.text(st.characters(codec="utf-8", exclude_characters="\0"), min_size=1)


@given(st.one_of(st.none(), _safe), st.from_regex(r"\A[a-z0-9.]{1,20}\Z"), _safe)
def test_round_trip(authzid: str | None, authcid: str, password: str) -> None:
    message = f"{authzid or ''}\0{authcid}\0{password}".encode()
    assert parse_plain(message) == (authzid, authcid, password)
