"""TURN REST API credentials (coturn use-auth-secret), SPEC §4 and §10."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.turn import TurnCredentials, turn_credentials

URIS = ("turn:turn.example.com:3478?transport=udp", "stun:turn.example.com:3478")


def test_known_vector_computed_with_openssl() -> None:
    # printf '%s' '1700000600:alice@example.com' \
    #   | openssl dgst -sha1 -hmac 'north-wind-secret' -binary | openssl base64
    creds = turn_credentials("north-wind-secret", "alice@example.com", 600, URIS, 1_700_000_000)
    assert creds == TurnCredentials(
        username="1700000600:alice@example.com",
        password="bTW03WeEpeqBwJhzGYVCa0ui0tQ=",
        ttl=600,
        expires=1_700_000_600,
        uris=URIS,
    )


def test_second_known_vector_computed_with_openssl() -> None:
    # printf '%s' '1700003600:juliet@capulet.lit' \
    #   | openssl dgst -sha1 -hmac 'd3adb33f' -binary | openssl base64
    creds = turn_credentials("d3adb33f", "juliet@capulet.lit", 3600, [], 1_700_000_000.999)
    assert creds.username == "1700003600:juliet@capulet.lit"
    assert creds.password == "rovMyuMDv5MJIUjFB6JkqZbZarI="
    assert creds.uris == ()


def test_expiry_truncates_fractional_now() -> None:
    creds = turn_credentials("s", "a@b", 86400, URIS, 1_700_000_000.75)
    assert creds.expires == 1_700_086_400
    assert creds.username.startswith("1700086400:")


def test_uris_are_copied_into_a_tuple() -> None:
    uris = list(URIS)
    creds = turn_credentials("s", "a@b", 60, uris, 0)
    uris.append("turns:other.example.com:5349")
    assert creds.uris == URIS


def test_credentials_are_frozen() -> None:
    creds = turn_credentials("s", "a@b", 60, URIS, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.password = "x"  # type: ignore[misc]


def test_non_ascii_user_and_secret_are_utf8() -> None:
    creds = turn_credentials("sécret", "jürgen@example.com", 60, URIS, 1_000)
    expected = hmac.new("sécret".encode(), b"1060:j\xc3\xbcrgen@example.com", hashlib.sha1)
    assert creds.password == base64.b64encode(expected.digest()).decode()


@pytest.mark.parametrize(
    ("secret", "user", "ttl", "message"),
    [
        ("", "a@b", 60, "secret"),
        ("s", "", 60, "user"),
        ("s", "a@b", 0, "ttl"),
        ("s", "a@b", -5, "ttl"),
    ],
)
def test_invalid_arguments(secret: str, user: str, ttl: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        turn_credentials(secret, user, ttl, URIS, 1_000)


@given(
    secret=st.text(min_size=1, max_size=64),
    local=st.from_regex(r"[a-z0-9._-]{1,20}", fullmatch=True),
    ttl=st.integers(min_value=1, max_value=10**7),
    now=st.floats(min_value=0, max_value=4e9, allow_nan=False),
)
def test_matches_hmac_sha1_of_the_username(secret: str, local: str, ttl: int, now: float) -> None:
    user = f"{local}@example.com"
    creds = turn_credentials(secret, user, ttl, URIS, now)
    expiry, _, named = creds.username.partition(":")
    assert (int(expiry), named) == (creds.expires, user)
    assert creds.expires == int(now) + ttl
    mac = hmac.new(secret.encode(), creds.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(creds.password, validate=True) == mac
