"""SASL OAUTHBEARER server (RFC 7628)."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.auth.oauthbearer import (
    OAuthBearerRequest,
    OAuthBearerServer,
    parse_client_response,
)
from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure

MALFORMED = SaslCondition.MALFORMED_REQUEST
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_x"

# RFC 7628 §4.1, the IMAP initial response (base64 as in the RFC).
RFC_INITIAL = base64.b64decode(
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVy"
    "IHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
)
# RFC 7628 §4, the error JSON of the failed exchange.
RFC_ERROR = base64.b64decode(
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3Vy"
    "YXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0="
)


def message(gs2: str = "n,,", *pairs: str) -> bytes:
    return (gs2 + "\x01" + "".join(pair + "\x01" for pair in pairs) + "\x01").encode()


def test_rfc7628_example() -> None:
    assert RFC_INITIAL == (
        b"n,a=user@example.com,\x01host=server.example.com\x01port=143"
        b"\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
    )
    assert parse_client_response(RFC_INITIAL) == OAuthBearerRequest(
        token="vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        authzid="user@example.com",
        host="server.example.com",
        port=143,
    )


@pytest.mark.parametrize(
    ("gs2", "authzid"),
    [
        ("n,,", None),
        ("y,,", None),  # client could bind channels, thinks we cannot: right
        ("n,a=alice@example.com,", "alice@example.com"),
        ("n,a=alice@example.com/phone,", "alice@example.com/phone"),
        ("n,a=a=2Cb=3Dc,", "a,b=c"),
        ("n,a=a=2cb=3dc,", "a,b=c"),  # escapes are case-insensitive
        ("y,a=j\u00fcrgen@example.com,", "j\u00fcrgen@example.com"),
    ],
)
def test_authzid_forms(gs2: str, authzid: str | None) -> None:
    request = parse_client_response(message(gs2, f"auth=Bearer {JWT}"))
    assert request == OAuthBearerRequest(token=JWT, authzid=authzid, host=None, port=None)


@pytest.mark.parametrize(
    "auth",
    [f"auth=Bearer {JWT}", f"auth=bearer {JWT}", f"auth=BEARER {JWT}", f"auth=BeArEr   {JWT}"],
)
def test_scheme_is_case_insensitive(auth: str) -> None:
    assert parse_client_response(message("n,,", auth)).token == JWT


def test_optional_and_unknown_keys() -> None:
    request = parse_client_response(
        message("n,,", "port=5222", "mfa=123456", f"AUTH=Bearer {JWT}", "host=example.com")
    )
    assert request == OAuthBearerRequest(token=JWT, authzid=None, host="example.com", port=5222)


def test_token_kept_out_of_repr() -> None:
    request = parse_client_response(message("n,,", f"auth=Bearer {JWT}"))
    assert JWT not in repr(request)
    assert "alice" not in repr(request)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",  # the dummy response is no initial response
        b"\x01\x01",
        b"n,,",
        b"n,,\x01\x01",  # missing auth
        message("n,,", "host=example.com", "port=143"),  # missing auth
        message("n,,", f"Basic {JWT}"),  # not a key=value pair
        message("n,,", f"auth=Basic {JWT}"),  # wrong scheme
        message("n,,", f"auth=Token {JWT}"),
        message("n,,", "auth=Bearer"),  # no token
        message("n,,", "auth=Bearer "),
        message("n,,", f"auth=Bearer{JWT}"),  # no space
        message("n,,", f"auth=Bearer\t{JWT}"),  # only SP separates scheme and token
        message("n,,", "auth=Bearer a b"),  # not a b64token
        message("n,,", "auth=Bearer =abc"),
        message("n,,", "auth=Bearer abc=d"),
        message("n,,", f"auth=Bearer {JWT}", f"auth=Bearer {JWT}"),  # repeated key
        message("n,,", f"auth=Bearer {JWT}", f"Auth=Bearer {JWT}"),
        message("n,,", f"auth=Bearer {JWT}", "port=http"),
        message("n,,", f"auth=Bearer {JWT}", "port=65536"),
        message("n,,", f"auth=Bearer {JWT}", "port=" + "9" * 5000),
        message("n,,", f"auth=Bearer {JWT}", "port="),
        message("n,,", f"auth=Bearer {JWT}", "=value"),  # empty key
        message("n,,", f"auth=Bearer {JWT}", "ke y=value"),
        message("n,,", f"auth=Bearer {JWT}", "k1=value"),  # key is ALPHA only
        message("n,,", f"auth=Bearer {JWT}", "host=\x00"),  # value outside VCHAR/SP/...
        message("n,,", f"auth=Bearer {JWT}", "host=b\u00fccher.example"),
        # channel binding flag p: OAUTHBEARER has no -PLUS variant
        message("p=tls-unique,,", f"auth=Bearer {JWT}"),
        message("p=tls-exporter,a=alice@example.com,", f"auth=Bearer {JWT}"),
        message("x,,", f"auth=Bearer {JWT}"),  # unknown flag
        message(",,", f"auth=Bearer {JWT}"),
        message("F,n,,", f"auth=Bearer {JWT}"),  # GS2 non-standard flag
        message("n,alice,", f"auth=Bearer {JWT}"),  # authzid without a=
        message("n,a=,", f"auth=Bearer {JWT}"),  # empty authzid
        message("n,a=a=2Db,", f"auth=Bearer {JWT}"),  # bad escape
        message("n,a=a=,", f"auth=Bearer {JWT}"),
        message("n,a=a\x00b,", f"auth=Bearer {JWT}"),
        message("n,a=a,b,", f"auth=Bearer {JWT}"),  # unescaped comma
        # bad separators
        f"n,,auth=Bearer {JWT}\x01\x01".encode(),  # no kvsep after the GS2 header
        f"n,\x01auth=Bearer {JWT}\x01\x01".encode(),  # GS2 header too short
        f"n,,\x01auth=Bearer {JWT}\x01".encode(),  # no terminating kvsep
        f"n,,\x01auth=Bearer {JWT}".encode(),
        f"n,,\x01auth=Bearer {JWT}\x01\x01\x01".encode(),  # extra kvsep
        f"n,,\x01\x01auth=Bearer {JWT}\x01\x01".encode(),  # empty pair first
        f"n,,\x01auth=Bearer {JWT}\x01\x01host=x\x01\x01".encode(),  # data after the end
        f"n,,\x01auth=Bearer {JWT},host=x\x01\x01".encode(),  # comma is no separator
        f"n,,\x01auth=Bearer {JWT}\x00\x00".encode(),  # NUL is no separator
        # not UTF-8
        b"n,a=\xff,\x01auth=Bearer abc\x01\x01",
        b"n,,\x01auth=Bearer abc\x01host=\xc3\x01\x01",
        b"n,a=\xed\xa0\x80,\x01auth=Bearer abc\x01\x01",  # encoded surrogate
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(SaslFailure) as info:
        parse_client_response(data)
    assert info.value.condition is MALFORMED
    assert JWT not in str(info.value)
    with pytest.raises(SaslFailure) as info:
        OAuthBearerServer().start(data)
    assert info.value.condition is MALFORMED


def test_success_sequence() -> None:
    server = OAuthBearerServer()
    assert server.request is None
    request = server.start(RFC_INITIAL)
    assert server.request == request
    assert request.authzid == "user@example.com"
    assert not server.authenticated
    server.accept()
    assert server.authenticated


def test_error_sequence() -> None:
    server = OAuthBearerServer()
    server.start(message("n,,", f"auth=Bearer {JWT}"))
    challenge = server.error_challenge()
    assert json.loads(challenge) == {"status": "invalid_token"}
    with pytest.raises(SaslFailure) as info:
        server.finish_after_error(b"\x01")
    assert info.value.condition is SaslCondition.NOT_AUTHORIZED
    assert not server.authenticated


def test_error_challenge_matches_rfc_example() -> None:
    server = OAuthBearerServer()
    server.start(RFC_INITIAL)
    challenge = server.error_challenge(
        scope="example_scope",
        openid_configuration="https://example.com/.well-known/openid-configuration",
    )
    assert challenge == RFC_ERROR


@pytest.mark.parametrize("response", [b"", b"\x01\x01", b"=", RFC_INITIAL, b"\xff"])
def test_error_then_wrong_dummy_response(response: bytes) -> None:
    server = OAuthBearerServer()
    server.start(RFC_INITIAL)
    server.error_challenge()
    with pytest.raises(SaslFailure) as info:
        server.finish_after_error(response)
    assert info.value.condition is MALFORMED


def _started() -> OAuthBearerServer:
    server = OAuthBearerServer()
    server.start(RFC_INITIAL)
    return server


def _accepted() -> OAuthBearerServer:
    server = _started()
    server.accept()
    return server


def _challenged() -> OAuthBearerServer:
    server = _started()
    server.error_challenge()
    return server


def _finished() -> OAuthBearerServer:
    server = _challenged()
    with pytest.raises(SaslFailure):
        server.finish_after_error(b"\x01")
    return server


def _failed_start() -> OAuthBearerServer:
    server = OAuthBearerServer()
    with pytest.raises(SaslFailure):
        server.start(b"")
    return server


_STATES = {
    "fresh": OAuthBearerServer,
    "started": _started,
    "accepted": _accepted,
    "challenged": _challenged,
    "finished": _finished,
    "failed-start": _failed_start,
}
_STEPS = {
    "start": lambda s: s.start(RFC_INITIAL),
    "accept": lambda s: s.accept(),
    "error_challenge": lambda s: s.error_challenge(),
    "finish_after_error": lambda s: s.finish_after_error(b"\x01"),
}
_ALLOWED = {
    ("fresh", "start"),
    ("started", "accept"),
    ("started", "error_challenge"),
    ("challenged", "finish_after_error"),
}


@pytest.mark.parametrize("state", sorted(_STATES))
@pytest.mark.parametrize("step", sorted(_STEPS))
def test_every_state_and_step(state: str, step: str) -> None:
    server = _STATES[state]()
    if (state, step) in _ALLOWED:
        if step == "finish_after_error":
            with pytest.raises(SaslFailure) as info:
                _STEPS[step](server)
            assert info.value.condition is SaslCondition.NOT_AUTHORIZED
        else:
            _STEPS[step](server)
        return
    with pytest.raises(SaslFailure) as info:
        _STEPS[step](server)
    assert info.value.condition is MALFORMED
    # the object is spent: nothing works any more
    for name in sorted(_STEPS):
        with pytest.raises(SaslFailure):
            _STEPS[name](server)
    assert state == "accepted" or not server.authenticated


@given(st.binary(max_size=96))
def test_fuzz_bytes(data: bytes) -> None:
    condition: SaslCondition | None = None
    try:
        request = parse_client_response(data)
    except SaslFailure as failure:
        condition = failure.condition
    else:
        assert request.token
        assert request.port is None or 0 <= request.port <= 65535
    assert condition in (None, MALFORMED)


_kv_parts = st.sampled_from(
    ["n,,", "y,,", "p=x,,", "n,a=u@h,", "\x01", "\x01\x01", ",", "=", "auth=", "Bearer ", "bearer",
     JWT, "host=", "port=", "143", "99999", " ", "=2C", "\x00", "\xff"]
)  # fmt: skip


@given(st.lists(_kv_parts, max_size=12))
def test_fuzz_structured(parts: list[str]) -> None:
    data = "".join(parts).encode()
    server = OAuthBearerServer()
    condition: SaslCondition | None = None
    try:
        request = server.start(data)
    except SaslFailure as failure:
        condition = failure.condition
    else:
        assert server.request == request
        assert parse_client_response(data) == request
    assert condition in (None, MALFORMED)
    assert (condition is None) == (server.request is not None)


_b64token = st.from_regex(r"\A[A-Za-z0-9\-._~+/]{1,40}={0,2}\Z")
_authzid = st.text(st.characters(codec="utf-8", exclude_characters="\0"), min_size=1, max_size=20)


@given(
    _b64token,
    st.one_of(st.none(), _authzid),
    st.one_of(st.none(), st.from_regex(r"\A[a-z0-9.-]{0,20}\Z")),
    st.one_of(st.none(), st.integers(0, 65535)),
)
def test_round_trip(token: str, authzid: str | None, host: str | None, port: int | None) -> None:
    escaped = None if authzid is None else authzid.replace("=", "=3D").replace(",", "=2C")
    pairs = [f"auth=Bearer {token}"]
    if host is not None:
        pairs.insert(0, f"host={host}")
    if port is not None:
        pairs.append(f"port={port}")
    data = message(f"n,{'' if escaped is None else 'a=' + escaped},", *pairs)
    assert parse_client_response(data) == OAuthBearerRequest(token, authzid, host, port)
