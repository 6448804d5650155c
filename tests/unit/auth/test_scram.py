"""SCRAM server (RFC 5802, RFC 7677): test vectors, failures, state machine, fuzzing."""

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.auth.passwords import (
    ScramCredentials,
    ScramHash,
    derive_credentials,
    dummy_credentials,
)
from xmpp_video.auth.scram import SaslCondition, SaslFailure, ScramServer

FAST = 2  # iterations where no RFC vector is involved
MALFORMED = SaslCondition.MALFORMED_REQUEST
NOT_AUTHORIZED = SaslCondition.NOT_AUTHORIZED


# --- RFC test vectors, driven with the RFCs' nonces --------------------------------------------


def test_rfc5802_scram_sha1_vector() -> None:
    """RFC 5802 §5: user "user", password "pencil"."""
    salt = base64.b64decode("QSXCR+Q6sek8bf92")
    creds = derive_credentials("pencil", ScramHash.SHA1, iterations=4096, salt=salt)
    server = ScramServer(ScramHash.SHA1, nonce="3rfcNHYJY1ZVvWVs7j")
    assert server.client_first(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL") == "user"
    assert server.authzid is None
    assert server.server_first(creds) == (
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
    )
    assert not server.authenticated
    final = server.client_final(
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    )
    assert final == b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
    assert server.authenticated


def test_rfc7677_scram_sha256_vector() -> None:
    """RFC 7677 §3: user "user", password "pencil"."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    creds = derive_credentials("pencil", ScramHash.SHA256, iterations=4096, salt=salt)
    server = ScramServer(ScramHash.SHA256, nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    assert server.client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO") == "user"
    assert server.server_first(creds) == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = server.client_final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.authenticated


# --- a minimal SCRAM client written straight from RFC 5802 §3, independent of the server code --


def _client_final(
    password: str, hash_: ScramHash, client_first: bytes, server_first: bytes
) -> tuple[bytes, bytes]:
    """Return (client-final-message, expected server-final-message)."""
    name = {ScramHash.SHA1: "sha1", ScramHash.SHA256: "sha256"}[hash_]
    attrs = dict(part.split(b"=", 1) for part in server_first.split(b","))
    salted = hashlib.pbkdf2_hmac(name, password.encode(), base64.b64decode(attrs[b"s"]),
                                 int(attrs[b"i"]))  # fmt: skip
    gs2_header, _, bare = client_first.partition(b",")
    authz, _, bare = bare.partition(b",")
    gs2_header = gs2_header + b"," + authz + b","
    without_proof = b"c=" + base64.b64encode(gs2_header) + b",r=" + attrs[b"r"]
    auth_message = bare + b"," + server_first + b"," + without_proof
    client_key = hmac.new(salted, b"Client Key", name).digest()
    signature = hmac.new(hashlib.new(name, client_key).digest(), auth_message, name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    server_key = hmac.new(salted, b"Server Key", name).digest()
    verifier = base64.b64encode(hmac.new(server_key, auth_message, name).digest())
    return without_proof + b",p=" + base64.b64encode(proof), b"v=" + verifier


def _exchange(
    hash_: ScramHash,
    client_first: bytes,
    password: str,
    creds: ScramCredentials,
) -> tuple[ScramServer, bytes, bytes]:
    """Run client_first and server_first; return the server, client-final and expected v=."""
    server = ScramServer(hash_)
    server.client_first(client_first)
    server_first = server.server_first(creds)
    final, verifier = _client_final(password, hash_, client_first, server_first)
    return server, final, verifier


@pytest.fixture(scope="module", params=list(ScramHash))
def hash_(request: pytest.FixtureRequest) -> ScramHash:
    value: ScramHash = request.param
    return value


@pytest.fixture(scope="module")
def creds(hash_: ScramHash) -> ScramCredentials:
    return derive_credentials("secret", hash_, iterations=FAST)


def _attempt(call: Callable[[], object]) -> SaslCondition | None:
    """Run ``call``; return the condition of the SaslFailure it raised, or None."""
    try:
        call()
    except SaslFailure as failure:
        return failure.condition
    return None


def _fails(condition: SaslCondition, call: Callable[[], object]) -> SaslFailure:
    with pytest.raises(SaslFailure) as info:
        call()
    assert info.value.condition is condition, info.value
    return info.value


# --- full exchanges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_first", "username", "authzid"),
    [
        (b"n,,n=juliet,r=abc", "juliet", None),
        (b"y,,n=juliet,r=abc", "juliet", None),
        (b"n,a=juliet@example.com,n=juliet,r=abc", "juliet", "juliet@example.com"),
        (b"n,a=a=2Cb=3Dc,n=x=2Cy=3Dz,r=abc", "x,y=z", "a,b=c"),
        (b"n,,n=x=2cy=3dz,r=abc", "x,y=z", None),  # ABNF strings are case-insensitive
        (b"n,,n=j\xc3\xbcrgen,r=abc", "j\u00fcrgen", None),
        (b"n,,n=I\xc2\xadX,r=abc", "IX", None),  # SASLprep as a query
        (b"n,,n=a\xc8\xa1,r=abc", "a\u0221", None),  # unassigned: allowed in a query
        (b"n,,n=juliet,r=abc,x=ignored,y=also=ignored", "juliet", None),  # optional extensions
    ],
)
def test_successful_exchange(
    hash_: ScramHash,
    creds: ScramCredentials,
    client_first: bytes,
    username: str,
    authzid: str | None,
) -> None:
    server, final, verifier = _exchange(hash_, client_first, "secret", creds)
    assert server.username == username
    assert server.authzid == authzid
    assert server.client_final(final) == verifier
    assert server.authenticated


def test_default_nonces_are_fresh_and_printable(hash_: ScramHash, creds: ScramCredentials) -> None:
    firsts = set()
    for _ in range(3):
        server = ScramServer(hash_)
        server.client_first(b"n,,n=user,r=abc")
        firsts.add(server.server_first(creds))
    assert len(firsts) == 3
    nonce = next(iter(firsts)).split(b",")[0][2:]
    assert len(nonce) >= 3 + 24
    assert all(0x21 <= c <= 0x7E and c != ord(",") for c in nonce)


def test_wrong_password(hash_: ScramHash, creds: ScramCredentials) -> None:
    server, final, _ = _exchange(hash_, b"n,,n=user,r=abc", "Secret", creds)
    failure = _fails(NOT_AUTHORIZED, lambda: server.client_final(final))
    assert "Secret" not in str(failure)
    assert not server.authenticated


def test_unknown_user_looks_like_wrong_password(hash_: ScramHash) -> None:
    real = derive_credentials("secret", hash_, iterations=FAST)
    known, known_final, _ = _exchange(hash_, b"n,,n=romeo,r=abc", "guess", real)
    dummy = dummy_credentials("nobody", hash_, FAST)
    unknown = ScramServer(hash_)
    unknown.client_first(b"n,,n=nobody,r=abc")
    first = unknown.server_first(dummy)
    unknown_final, _ = _client_final("guess", hash_, b"n,,n=nobody,r=abc", first)

    known_failure = _fails(NOT_AUTHORIZED, lambda: known.client_final(known_final))
    unknown_failure = _fails(NOT_AUTHORIZED, lambda: unknown.client_final(unknown_final))
    assert known_failure.text == unknown_failure.text

    # the challenge has the same shape: nonce length, salt length, iteration count
    again = ScramServer(hash_)
    again.client_first(b"n,,n=romeo,r=abc")
    known_first = again.server_first(real)
    shape = [(p[:2], len(p)) for p in known_first.split(b",")]
    assert [(p[:2], len(p)) for p in first.split(b",")] == shape


def test_replayed_final_message_fails(hash_: ScramHash, creds: ScramCredentials) -> None:
    server, final, _ = _exchange(hash_, b"n,,n=user,r=abc", "secret", creds)
    server.client_final(final)
    # the same client-final on a new exchange: the server nonce differs
    replay = ScramServer(hash_)
    replay.client_first(b"n,,n=user,r=abc")
    replay.server_first(creds)
    _fails(NOT_AUTHORIZED, lambda: replay.client_final(final))
    # ...and rewriting the nonce to the new one invalidates the proof
    replay = ScramServer(hash_)
    replay.client_first(b"n,,n=user,r=abc")
    first = replay.server_first(creds)
    new_nonce = first.split(b",")[0]
    old = final.split(b",")
    tampered = b",".join([old[0], new_nonce, old[2]])
    _fails(NOT_AUTHORIZED, lambda: replay.client_final(tampered))


def test_tampered_proof_fails(hash_: ScramHash, creds: ScramCredentials) -> None:
    server, final, _ = _exchange(hash_, b"n,,n=user,r=abc", "secret", creds)
    without_proof, _, proof = final.rpartition(b",p=")
    raw = bytearray(base64.b64decode(proof))
    raw[0] ^= 1
    _fails(
        NOT_AUTHORIZED, lambda: server.client_final(without_proof + b",p=" + base64.b64encode(raw))
    )


@pytest.mark.parametrize(
    "proof",
    [b"", b"AAAA", base64.b64encode(bytes(64))],  # wrong lengths
)
def test_proof_of_wrong_length_fails(
    hash_: ScramHash, creds: ScramCredentials, proof: bytes
) -> None:
    server, final, _ = _exchange(hash_, b"n,,n=user,r=abc", "secret", creds)
    without_proof = final.rpartition(b",p=")[0]
    _fails(NOT_AUTHORIZED, lambda: server.client_final(without_proof + b",p=" + proof))


def test_extension_added_to_final_message_breaks_the_proof(
    hash_: ScramHash, creds: ScramCredentials
) -> None:
    server, final, _ = _exchange(hash_, b"n,,n=user,r=abc", "secret", creds)
    without_proof, _, proof = final.rpartition(b",p=")
    _fails(NOT_AUTHORIZED, lambda: server.client_final(without_proof + b",x=1,p=" + proof))


def test_mismatched_nonce(hash_: ScramHash, creds: ScramCredentials) -> None:
    _, final, _ = _exchange(hash_, b"n,,n=user,r=abc", "secret", creds)
    parts = final.split(b",")
    for nonce in (b"r=abc", b"r=" + parts[1][2:-1], parts[1] + b"x", b"r=\xc3\xa9"):
        bad = ScramServer(hash_, nonce="server")
        bad.client_first(b"n,,n=user,r=abc")
        bad.server_first(creds)
        _fails(NOT_AUTHORIZED, lambda: bad.client_final(b",".join([parts[0], nonce, parts[2]])))  # noqa: B023


@pytest.mark.parametrize(
    ("client_first", "echo"),
    [
        (b"n,,n=user,r=abc", b"y,,"),
        (b"y,,n=user,r=abc", b"n,,"),
        (b"n,a=admin,n=user,r=abc", b"n,,"),  # authzid stripped by a man in the middle
        (b"n,,n=user,r=abc", b"n,,extra"),
        (b"n,,n=user,r=abc", b""),
    ],
)
def test_channel_binding_echo_must_match(
    hash_: ScramHash, creds: ScramCredentials, client_first: bytes, echo: bytes
) -> None:
    server = ScramServer(hash_, nonce="server")
    server.client_first(client_first)
    server.server_first(creds)
    message = b"c=" + base64.b64encode(echo) + b",r=abcserver,p=" + base64.b64encode(bytes(20))
    _fails(NOT_AUTHORIZED, lambda: server.client_final(message))


def test_downgrade_detected_when_plus_is_offered() -> None:
    server = ScramServer(ScramHash.SHA256, channel_binding_offered=True)
    _fails(NOT_AUTHORIZED, lambda: server.client_first(b"y,,n=user,r=abc"))
    server = ScramServer(ScramHash.SHA256, channel_binding_offered=True)
    assert server.client_first(b"n,,n=user,r=abc") == "user"


def test_failure_texts_do_not_echo_input() -> None:
    failure = _fails(
        MALFORMED, lambda: ScramServer(ScramHash.SHA1).client_first(b"n,,n=sec=ret,r=a")
    )
    assert "sec" not in str(failure)


# --- malformed messages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"n",
        b"n,",
        b"n,,",
        b"n,,n=user",  # no nonce
        b"n,,r=abc,n=user",  # wrong order
        b"n,,n=user,r=",  # empty nonce
        b"n,,n=user,r=ab\x7fc",  # nonce not printable
        b"n,,n=user,r=ab\xc3\xa9",  # nonce not ASCII
        b"n,,n=,r=abc",  # empty username
        b"n,,n=us=er,r=abc",  # bad escape
        b"n,,n=us=2,r=abc",
        b"n,,n=user=,r=abc",
        b"n,,n=us=3Xer,r=abc",
        b"n,,n=\xc2\xad,r=abc",  # SASLprep maps the username to nothing
        b"n,,n=us\x07er,r=abc",  # prohibited by SASLprep
        b"n,,n=\xd8\xa71,r=abc",  # bidi violation
        b"n,,n=us\xffer,r=abc",  # invalid UTF-8
        b"n,,n=us\xed\xa0\x80er,r=abc",  # encoded surrogate
        b"n,,n=us\x00er,r=abc",  # NUL
        b"n,,m=ext,n=user,r=abc",  # mandatory extension
        b"n,,n=user,r=abc,m=ext",
        b"n,,n=user,r=abc,x",  # bad extension syntax
        b"n,,n=user,r=abc,x=",
        b"n,,n=user,r=abc,xy=1",
        b"n,,n=user,r=abc,1=1",
        b"n,,n=user,r=abc,\xc3\xa9=1",
        b"n,,n=user,r=abc,",
        b"p=tls-unique,,n=user,r=abc",  # channel binding demanded: no -PLUS offered
        b"p=tls-exporter,,n=user,r=abc",
        b"p,,n=user,r=abc",
        b"x,,n=user,r=abc",
        b"N,,n=user,r=abc",
        b"n,a=,n=user,r=abc",  # empty authzid
        b"n,b=x,n=user,r=abc",
        b"n,a=x=y,n=user,r=abc",
        b",,n=user,r=abc",
        b"n,,N=user,r=abc",
    ],
)
def test_malformed_client_first(message: bytes) -> None:
    server = ScramServer(ScramHash.SHA256)
    _fails(MALFORMED, lambda: server.client_first(message))
    assert server.username == ""
    assert server.authzid is None
    # the attempt is over
    _fails(MALFORMED, lambda: server.client_first(b"n,,n=user,r=abc"))


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"c=biws",
        b"c=biws,r=abcserver",  # no proof
        b"r=abcserver,c=biws,p=AAAA",  # wrong order
        b"c=biws,p=AAAA,r=abcserver",
        b"c=biws,r=abcserver,p=AAAA,x=1",
        b"c=bi!s,r=abcserver,p=AAAA",  # bad base64
        b"c=biw,r=abcserver,p=AAAA",  # bad padding
        b"c=biws,r=abcserver,p=AA\xc3\xa9A",
        b"c=biws,r=abcserver,p=AAA",
        b"c=biws,r=abcserver,m=x,p=AAAA",  # mandatory extension
        b"c=biws,r=abcserver,x,p=AAAA",
        b"c=biws,r=abcserver\xff,p=AAAA",  # invalid UTF-8
        b"c=biws,r=abcserver\x00,p=AAAA",
        b"c=biws,r=abcserver,p=AAAA\n",
    ],
)
def test_malformed_client_final(message: bytes) -> None:
    server = ScramServer(ScramHash.SHA256, nonce="server")
    server.client_first(b"n,,n=user,r=abc")
    server.server_first(derive_credentials("pw", ScramHash.SHA256, iterations=FAST))
    _fails(MALFORMED, lambda: server.client_final(message))
    assert not server.authenticated


def test_bad_server_nonce() -> None:
    for nonce in ("", "a,b", "a b", "\u00e9"):
        with pytest.raises(ValueError, match="nonce"):
            ScramServer(ScramHash.SHA1, nonce=nonce)


def test_credentials_of_the_wrong_hash_are_a_caller_bug() -> None:
    server = ScramServer(ScramHash.SHA256)
    server.client_first(b"n,,n=user,r=abc")
    with pytest.raises(ValueError, match="SCRAM-SHA-1"):
        server.server_first(derive_credentials("pw", ScramHash.SHA1, iterations=FAST))


# --- every (state, step) pair ---------------------------------------------------------------------

_CREDS = derive_credentials("pw", ScramHash.SHA256, iterations=FAST)
_CLIENT_FIRST = b"n,,n=user,r=abc"


def _in_state(state: str) -> ScramServer:
    server = ScramServer(ScramHash.SHA256)
    if state == "failed":
        with pytest.raises(SaslFailure):
            server.client_first(b"garbage")
        return server
    if state == "initial":
        return server
    server.client_first(_CLIENT_FIRST)
    if state == "after-client-first":
        return server
    first = server.server_first(_CREDS)
    if state == "after-server-first":
        return server
    final, _ = _client_final("pw", ScramHash.SHA256, _CLIENT_FIRST, first)
    server.client_final(final)
    assert state == "succeeded"
    return server


_STATES = ["initial", "after-client-first", "after-server-first", "succeeded", "failed"]
_STEPS: dict[str, Callable[[ScramServer], object]] = {
    "client_first": lambda s: s.client_first(_CLIENT_FIRST),
    "server_first": lambda s: s.server_first(_CREDS),
    "client_final": lambda s: s.client_final(b"c=biws,r=abc,p=AAAA"),
}
_ALLOWED = {
    ("initial", "client_first"),
    ("after-client-first", "server_first"),
    ("after-server-first", "client_final"),  # allowed, then fails on the proof
}


@pytest.mark.parametrize("state", _STATES)
@pytest.mark.parametrize("step", list(_STEPS))
def test_every_state_and_step(state: str, step: str) -> None:
    server = _in_state(state)
    authenticated = server.authenticated
    if (state, step) in _ALLOWED:
        expected = NOT_AUTHORIZED if step == "client_final" else None  # dummy proof is wrong
        assert _attempt(lambda: _STEPS[step](server)) is expected
        return
    _fails(MALFORMED, lambda: _STEPS[step](server))
    assert server.authenticated == authenticated
    # an out-of-order call ends the attempt
    for other in _STEPS.values():
        _fails(MALFORMED, lambda: other(server))  # noqa: B023


# --- fuzzing: anything a client sends is accepted or refused with SaslFailure --------------------


@given(st.binary(max_size=200))
def test_fuzz_client_first_bytes(message: bytes) -> None:
    server = ScramServer(ScramHash.SHA1)
    condition = _attempt(lambda: server.client_first(message))
    assert condition in (None, MALFORMED)
    assert bool(server.username) is (condition is None)


_GRAMMAR_TOKENS = st.sampled_from(
    ["n", "y", "p", "a", "m", "r", "c", "x", "=", ",", "=2C", "=3D", "=2", "user", "abc",
     "\u00e9", "\u00ad", "\x00", "\x07", "\u0627", "1", "biws", "AAAA", "=="]
)  # fmt: skip


@given(st.lists(_GRAMMAR_TOKENS, max_size=24).map("".join))
def test_fuzz_client_first_grammar(text: str) -> None:
    server = ScramServer(ScramHash.SHA256)
    condition = _attempt(lambda: server.client_first(text.encode()))
    assert condition in (None, MALFORMED)
    if condition is None:
        server.server_first(_CREDS)


def _ready() -> tuple[ScramServer, bytes]:
    server = ScramServer(ScramHash.SHA256)
    server.client_first(_CLIENT_FIRST)
    server_first = server.server_first(_CREDS)
    final, _ = _client_final("pw", ScramHash.SHA256, _CLIENT_FIRST, server_first)
    return server, final


@given(st.binary(max_size=200))
def test_fuzz_client_final_bytes(message: bytes) -> None:
    server, _ = _ready()
    with pytest.raises(SaslFailure):
        server.client_final(message)
    assert not server.authenticated


@given(st.data())
def test_fuzz_mutated_client_final(data: st.DataObject) -> None:
    """A changed client-final succeeds only if it still says exactly the same thing.

    (base64 may encode the same proof in more than one way: the unused bits of the last
    character are not checked, as RFC 4648 §3.5 allows.)
    """
    server, final = _ready()
    index = data.draw(st.integers(0, len(final)))
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    byte = bytes([data.draw(st.integers(0, 255))])
    if kind == "replace" and index < len(final):
        mutated = final[:index] + byte + final[index + 1 :]
    elif kind == "insert":
        mutated = final[:index] + byte + final[index:]
    else:
        mutated = final[:index] + final[index + 1 :]
    condition = _attempt(lambda: server.client_final(mutated))
    assert condition in (None, MALFORMED, NOT_AUTHORIZED)
    assert server.authenticated is (condition is None)
    if condition is None:
        without_proof, _, proof = mutated.rpartition(b",p=")
        original_without_proof, _, original_proof = final.rpartition(b",p=")
        assert without_proof == original_without_proof
        assert base64.b64decode(proof) == base64.b64decode(original_proof)
