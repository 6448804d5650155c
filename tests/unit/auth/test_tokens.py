"""JWT issuing and verification: HS256 only, key rotation by kid, every refusal a TokenError."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmpp_video.auth.tokens import (
    IAT_LEEWAY_S,
    MAX_TOKEN_LENGTH,
    Claims,
    TokenError,
    TokenErrorCode,
    TokenKind,
    TokenSigner,
    key_id,
)

SECRET = "s" * 64  # long enough to forge HS512 tokens without a warning
FORMER = "f" * 64
OTHER = "o" * 64
T0 = 1_750_000_000
ACCESS_TTL = 900
REFRESH_TTL = 86_400
INVALID = TokenErrorCode.INVALID
EXPIRED = TokenErrorCode.EXPIRED


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signer(*secrets: str, clock: Clock | None = None) -> TokenSigner:
    return TokenSigner(secrets or (SECRET,), ACCESS_TTL, REFRESH_TTL, now=clock or Clock())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sub": "alice",
        "typ": "access",
        "jti": "j1",
        "iat": T0,
        "exp": T0 + ACCESS_TTL,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def forge(
    payload: dict[str, Any],
    secret: str = SECRET,
    algorithm: str = "HS256",
    kid: str | None = key_id(SECRET),
) -> str:
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def refused(token: str, kind: TokenKind = TokenKind.ACCESS, clock: Clock | None = None) -> str:
    with pytest.raises(TokenError) as caught:
        signer(SECRET, FORMER, clock=clock).verify(token, kind)
    return caught.value.code


# --- issuing and round trips --------------------------------------------------------------------


def test_access_token_round_trip() -> None:
    s = signer()
    token, issued = s.issue_access("alice")

    assert issued == Claims(
        sub="alice",
        kind=TokenKind.ACCESS,
        jti=issued.jti,
        iat=T0,
        exp=T0 + ACCESS_TTL,
        family=None,
    )
    assert s.verify(token, TokenKind.ACCESS) == issued


def test_refresh_token_round_trip_with_a_new_family() -> None:
    s = signer()
    token, issued = s.issue_refresh("alice")

    assert issued.kind is TokenKind.REFRESH
    assert issued.exp == T0 + REFRESH_TTL
    assert issued.family
    assert s.verify(token, TokenKind.REFRESH) == issued


def test_refresh_token_keeps_a_given_family() -> None:
    s = signer()
    _, first = s.issue_refresh("alice")
    token, second = s.issue_refresh("alice", family=first.family)

    assert second.family == first.family
    assert second.jti != first.jti
    assert s.verify(token, TokenKind.REFRESH).family == first.family


def test_ids_are_random() -> None:
    s = signer()
    jtis = {s.issue_access("alice")[1].jti for _ in range(50)}
    families = {s.issue_refresh("alice")[1].family for _ in range(50)}
    assert len(jtis) == 50
    assert len(families) == 50


def test_token_layout() -> None:
    """SPEC §4: HS256, sub/exp/iat/jti/typ; the header names the key, never the secret."""
    token, issued = signer().issue_refresh("alice")

    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})

    assert header["alg"] == "HS256"
    assert header["kid"] == key_id(SECRET)
    assert len(header["kid"]) == 16
    assert SECRET not in token
    assert payload == {
        "sub": "alice",
        "typ": "refresh",
        "jti": issued.jti,
        "iat": T0,
        "exp": T0 + REFRESH_TTL,
        "fam": issued.family,
    }


def test_fractional_clock_gives_integer_times() -> None:
    s = signer(clock=Clock(T0 + 0.75))
    token, issued = s.issue_access("alice")
    assert (issued.iat, issued.exp) == (T0, T0 + ACCESS_TTL)
    assert s.verify(token, TokenKind.ACCESS) == issued


def test_non_ascii_username_round_trips() -> None:
    s = signer()
    token, issued = s.issue_access("jürgen\U0001f600")
    assert s.verify(token, TokenKind.ACCESS).sub == "jürgen\U0001f600"
    assert issued.sub == "jürgen\U0001f600"


def test_longest_username_stays_under_the_length_limit() -> None:
    username = "\U0001f600" * (1023 // 4)  # 1020 bytes: the worst case of JSON escaping
    token, _ = signer().issue_refresh(username)
    assert len(token) < MAX_TOKEN_LENGTH
    assert signer().verify(token, TokenKind.REFRESH).sub == username


def test_external_token_with_the_secret_and_no_kid_verifies() -> None:
    token = forge(claims(), kid=None)
    assert signer().verify(token, TokenKind.ACCESS).sub == "alice"


# --- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize("secrets", [(), ("short",), (SECRET, "x" * 31)])
def test_missing_or_short_secrets_are_refused(secrets: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="secret"):
        TokenSigner(secrets, ACCESS_TTL, REFRESH_TTL)


def test_error_about_a_short_secret_does_not_contain_it() -> None:
    with pytest.raises(ValueError, match="secret") as caught:
        TokenSigner(("tiny-secret-value",), ACCESS_TTL, REFRESH_TTL)
    assert "tiny-secret-value" not in str(caught.value)


def test_a_single_string_is_not_a_list_of_secrets() -> None:
    with pytest.raises(TypeError):
        TokenSigner(SECRET, ACCESS_TTL, REFRESH_TTL)


def test_pem_looking_secret_is_refused() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\n" + "A" * 64 + "\n-----END PUBLIC KEY-----"
    with pytest.raises(ValueError, match="secret"):
        TokenSigner((pem,), ACCESS_TTL, REFRESH_TTL)


@pytest.mark.parametrize(("access", "refresh"), [(0, 10), (10, 0), (-1, 10)])
def test_lifetimes_must_be_positive(access: int, refresh: int) -> None:
    with pytest.raises(ValueError, match="lifetimes"):
        TokenSigner((SECRET,), access, refresh)


def test_empty_username_is_refused() -> None:
    with pytest.raises(ValueError, match="username"):
        signer().issue_access("")


# --- rotation -----------------------------------------------------------------------------------


def test_token_of_a_former_secret_still_verifies() -> None:
    old = signer(FORMER)
    token, issued = old.issue_access("alice")

    rotated = signer(SECRET, FORMER)

    assert rotated.verify(token, TokenKind.ACCESS) == issued
    assert rotated.signing_kid == key_id(SECRET)
    assert jwt.get_unverified_header(rotated.issue_access("bob")[0])["kid"] == key_id(SECRET)


def test_token_of_a_retired_secret_is_refused() -> None:
    token, _ = signer(FORMER).issue_access("alice")
    with pytest.raises(TokenError) as caught:
        signer(SECRET).verify(token, TokenKind.ACCESS)
    assert caught.value.code == INVALID


def test_unknown_kid_is_refused_even_if_an_accepted_secret_signed_it() -> None:
    """An unknown kid is refused outright: no accepted secret is tried."""
    assert refused(forge(claims(), secret=SECRET, kid="0123456789abcdef")) == INVALID


def test_kid_of_another_accepted_secret_is_refused() -> None:
    """The kid picks the secret: signed with SECRET but naming FORMER's kid."""
    assert refused(forge(claims(), secret=SECRET, kid=key_id(FORMER))) == INVALID


@pytest.mark.parametrize("kid", [7, None, ["a"], {"k": 1}, True])
def test_non_string_kid_is_refused(kid: Any) -> None:
    header = b64json({"alg": "HS256", "typ": "JWT", "kid": kid})
    body = b64json(claims())
    assert refused(f"{header}.{body}.{b64(b'x' * 32)}") == INVALID


def test_missing_kid_tries_every_accepted_secret() -> None:
    assert signer(SECRET, FORMER).verify(forge(claims(), FORMER, kid=None), TokenKind.ACCESS)
    assert refused(forge(claims(), OTHER, kid=None)) == INVALID


def test_duplicate_secrets_are_harmless() -> None:
    s = signer(SECRET, SECRET, FORMER)
    token, issued = s.issue_access("alice")
    assert s.verify(token, TokenKind.ACCESS) == issued


# --- refusals -----------------------------------------------------------------------------------


def test_wrong_secret_is_refused() -> None:
    assert refused(forge(claims(), secret=OTHER)) == INVALID


def test_wrong_secret_with_our_kid_is_refused() -> None:
    assert refused(forge(claims(), secret=OTHER, kid=key_id(SECRET))) == INVALID


def test_alg_none_is_refused() -> None:
    for alg in ("none", "None", "NONE"):
        header = b64json({"alg": alg, "typ": "JWT", "kid": key_id(SECRET)})
        token = f"{header}.{b64json(claims())}."
        assert refused(token) == INVALID
        assert refused(token + b64(b"sig")) == INVALID


def test_alg_none_without_kid_is_refused() -> None:
    token = f"{b64json({'alg': 'none'})}.{b64json(claims())}."
    assert refused(token) == INVALID


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_right_secret_are_refused(algorithm: str) -> None:
    assert refused(forge(claims(), algorithm=algorithm)) == INVALID
    assert refused(forge(claims(), algorithm=algorithm, kid=None)) == INVALID


def test_rs256_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": key_id(SECRET)})
    assert refused(token) == INVALID


def test_header_claiming_hs256_over_an_hs512_signature_is_refused() -> None:
    token = forge(claims(), algorithm="HS512")
    _, body, signature = token.split(".")
    header = b64json({"alg": "HS256", "typ": "JWT", "kid": key_id(SECRET)})
    assert refused(f"{header}.{body}.{signature}") == INVALID


@pytest.mark.parametrize("alg", ["hs256", "HS256 ", 256, None])
def test_misspelled_alg_is_refused(alg: Any) -> None:
    header = b64json({"alg": alg, "kid": key_id(SECRET)})
    assert refused(f"{header}.{b64json(claims())}.{b64(b'x' * 32)}") == INVALID


def test_tampered_payload_is_refused() -> None:
    token, _ = signer().issue_access("alice")
    header, _, signature = token.split(".")
    body = b64json(claims(sub="admin"))
    assert refused(f"{header}.{body}.{signature}") == INVALID


def test_tampered_signature_is_refused() -> None:
    token, _ = signer().issue_access("alice")
    last = "A" if token[-1] != "A" else "B"
    assert refused(token[:-1] + last) == INVALID


def test_expired_token() -> None:
    clock = Clock()
    token, _ = signer(clock=clock).issue_access("alice")

    clock.now = T0 + ACCESS_TTL - 1
    assert signer(SECRET, clock=clock).verify(token, TokenKind.ACCESS)
    clock.now = T0 + ACCESS_TTL
    assert refused(token, clock=clock) == EXPIRED
    clock.now = T0 + 10 * ACCESS_TTL
    assert refused(token, clock=clock) == EXPIRED


def test_expired_refresh_token() -> None:
    clock = Clock()
    token, _ = signer(clock=clock).issue_refresh("alice")
    clock.now = T0 + REFRESH_TTL
    assert refused(token, TokenKind.REFRESH, clock=clock) == EXPIRED


def test_expired_token_with_a_bad_signature_is_invalid_not_expired() -> None:
    token = forge(claims(exp=T0 - 100, iat=T0 - 200), secret=OTHER)
    assert refused(token) == INVALID


def test_iat_in_the_future_within_the_leeway_is_accepted() -> None:
    token = forge(claims(iat=T0 + IAT_LEEWAY_S, exp=T0 + 1000))
    assert signer().verify(token, TokenKind.ACCESS).iat == T0 + IAT_LEEWAY_S


def test_iat_in_the_future_beyond_the_leeway_is_refused() -> None:
    assert refused(forge(claims(iat=T0 + IAT_LEEWAY_S + 1, exp=T0 + 1000))) == INVALID


def test_token_issued_by_a_node_whose_clock_is_ahead_works_after_catching_up() -> None:
    ahead = Clock(T0 + 3600)
    token, _ = signer(clock=ahead).issue_access("alice")
    assert refused(token) == INVALID
    assert signer(clock=Clock(T0 + 3600)).verify(token, TokenKind.ACCESS)


def test_nbf_in_the_future_is_refused() -> None:
    assert refused(forge(claims(nbf=T0 + 3600))) == INVALID
    assert signer().verify(forge(claims(nbf=T0 - 1)), TokenKind.ACCESS)


@pytest.mark.parametrize("nbf", ["soon", True, None, [1]])
def test_nbf_of_a_wrong_type_is_refused(nbf: Any) -> None:
    payload = claims()
    payload["nbf"] = nbf
    assert refused(forge(payload)) == INVALID


def test_exp_not_after_iat_is_refused() -> None:
    assert refused(forge(claims(iat=T0, exp=T0))) == INVALID
    assert refused(forge(claims(iat=T0 - 10, exp=T0 - 20))) == INVALID


def test_refresh_token_used_as_access_token_is_refused() -> None:
    token, _ = signer().issue_refresh("alice")
    assert refused(token, TokenKind.ACCESS) == INVALID


def test_access_token_used_as_refresh_token_is_refused() -> None:
    token, _ = signer().issue_access("alice")
    assert refused(token, TokenKind.REFRESH) == INVALID


def test_refresh_token_without_family_is_refused() -> None:
    assert refused(forge(claims(typ="refresh")), TokenKind.REFRESH) == INVALID
    assert refused(forge(claims(typ="refresh", fam="")), TokenKind.REFRESH) == INVALID
    assert refused(forge(claims(typ="refresh", fam=5)), TokenKind.REFRESH) == INVALID


def test_access_token_carrying_a_family_has_none() -> None:
    verified = signer().verify(forge(claims(fam="f1")), TokenKind.ACCESS)
    assert verified.family is None


@pytest.mark.parametrize("name", ["sub", "jti", "iat", "exp", "typ"])
def test_each_required_claim_must_be_present(name: str) -> None:
    payload = claims()
    del payload[name]
    assert refused(forge(payload)) == INVALID


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sub", ""),
        ("sub", 42),
        ("sub", ["alice"]),
        ("jti", ""),
        ("jti", 1),
        ("iat", str(T0)),
        ("iat", float(T0)),
        ("iat", True),
        ("exp", str(T0 + 60)),
        ("exp", T0 + 60.5),
        ("exp", True),
        ("typ", "ACCESS"),
        ("typ", "id"),
        ("typ", 1),
    ],
)
def test_ill_typed_claims_are_refused(name: str, value: Any) -> None:
    payload = claims()
    payload[name] = value
    assert refused(forge(payload)) == INVALID


def test_token_with_an_audience_is_refused() -> None:
    assert refused(forge(claims(aud="someone-else"))) == INVALID


def test_crit_header_is_refused() -> None:
    token = jwt.encode(
        claims(), SECRET, algorithm="HS256", headers={"kid": key_id(SECRET), "crit": ["exp"]}
    )
    assert refused(token) == INVALID


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "...",
        "eyJhbGciOiJIUzI1NiJ9..",
        f"{b64(b'not json')}.{b64json(claims())}.{b64(b'x')}",
        f"{b64json([1, 2])}.{b64json(claims())}.{b64(b'x')}",
        f"{b64json({'alg': 'HS256'})}.{b64(b'not json')}.{b64(b'x')}",
        f"{b64json({'alg': 'HS256'})}.{b64json([1])}.{b64(b'x')}",
        f"{b64json({'alg': 'HS256'})}.{b64json(claims())}.!!!",
        "é.é.é",
        "\x00.\x00.\x00",
        "Bearer " + "a.b.c",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert refused(token) == INVALID


def test_signed_garbage_payload_is_refused() -> None:
    header = b64json({"alg": "HS256", "kid": key_id(SECRET)})
    body = b64(b"\xff\xfe not json")
    signing_input = f"{header}.{body}".encode()
    signature = b64(hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest())
    assert refused(f"{header}.{body}.{signature}") == INVALID


def test_deeply_nested_json_is_refused() -> None:
    nested = "[" * 3000 + "]" * 3000
    token = f"{b64(nested.encode())}.{b64json(claims())}.{b64(b'x')}"
    assert len(token) <= MAX_TOKEN_LENGTH
    assert refused(token) == INVALID


def test_oversized_token_is_refused() -> None:
    assert refused(forge(claims(pad="x" * MAX_TOKEN_LENGTH))) == INVALID


def test_non_string_input_is_refused() -> None:
    with pytest.raises(TokenError):
        signer().verify(b"a.b.c", TokenKind.ACCESS)  # type: ignore[arg-type]
    with pytest.raises(TokenError):
        signer().verify(None, TokenKind.ACCESS)  # type: ignore[arg-type]


def test_error_messages_never_contain_the_token_or_secret() -> None:
    token, _ = signer(OTHER).issue_access("alice")
    with pytest.raises(TokenError) as caught:
        signer().verify(token, TokenKind.ACCESS)
    assert token not in str(caught.value)
    assert SECRET not in str(caught.value)
    assert OTHER not in str(caught.value)


def test_error_code_is_the_json_error_string() -> None:
    error = TokenError(TokenErrorCode.EXPIRED, "token expired")
    assert error.code == "token_expired"
    assert json.dumps({"error": error.code}) == '{"error": "token_expired"}'
    assert TokenErrorCode.INVALID == "invalid_token"


# --- properties ---------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
claim_values = st.dictionaries(
    st.sampled_from(["sub", "typ", "jti", "iat", "exp", "fam", "nbf", "aud", "x"]),
    json_values
    | st.sampled_from(["access", "refresh", "alice"])
    | st.integers(T0 - 2 * REFRESH_TTL, T0 + 2 * REFRESH_TTL),
)


@PROPERTY_SETTINGS
@given(st.text())
def test_arbitrary_strings_raise_only_token_errors(text: str) -> None:
    for kind in TokenKind:
        with pytest.raises(TokenError):
            signer(SECRET, FORMER).verify(text, kind)


@PROPERTY_SETTINGS
@given(st.lists(st.text(B64_ALPHABET, max_size=60), min_size=1, max_size=5))
def test_arbitrary_base64_segments_raise_only_token_errors(parts: list[str]) -> None:
    with pytest.raises(TokenError):
        signer().verify(".".join(parts), TokenKind.ACCESS)


@PROPERTY_SETTINGS
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "b64"]), json_values),
    payload=json_values,
)
def test_arbitrary_json_segments_raise_only_token_errors(header: Any, payload: Any) -> None:
    token = f"{b64json(header)}.{b64json(payload)}.{b64(b'signature')}"
    with pytest.raises(TokenError):
        signer().verify(token, TokenKind.ACCESS)


@PROPERTY_SETTINGS
@given(payload=claim_values, kind=st.sampled_from(TokenKind))
def test_correctly_signed_arbitrary_claims_verify_or_raise_token_errors(
    payload: dict[str, Any], kind: TokenKind
) -> None:
    outcome: Claims | TokenError
    try:
        outcome = signer().verify(forge(payload), kind)
    except TokenError as exc:
        outcome = exc
    if isinstance(outcome, TokenError):
        assert outcome.code in (INVALID, EXPIRED)
        return
    assert outcome.kind is kind
    assert outcome.sub == payload["sub"]
    assert isinstance(outcome.iat, int)
    assert outcome.iat <= T0 + IAT_LEEWAY_S
    assert outcome.exp > T0


@PROPERTY_SETTINGS
@given(username=st.text(min_size=1, max_size=50), refresh=st.booleans())
def test_issued_tokens_always_verify(username: str, refresh: bool) -> None:
    s = signer()
    if refresh:
        token, issued = s.issue_refresh(username)
        assert s.verify(token, TokenKind.REFRESH) == issued
    else:
        token, issued = s.issue_access(username)
        assert s.verify(token, TokenKind.ACCESS) == issued
