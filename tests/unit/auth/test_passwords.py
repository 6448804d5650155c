"""Password storage as SCRAM keys: derivation, verification, dummy credentials."""

import base64
import dataclasses
import hashlib
import hmac

import pytest

from xmpp_video.auth.passwords import (
    DEFAULT_ITERATIONS,
    SALT_BYTES,
    ScramHash,
    derive_all,
    derive_credentials,
    dummy_credentials,
    verify_password,
)

FAST = 2  # iterations for tests that need no RFC vector


def test_hash_names() -> None:
    assert ScramHash.SHA1.mechanism == "SCRAM-SHA-1"
    assert ScramHash.SHA256.mechanism == "SCRAM-SHA-256"
    assert ScramHash.SHA1.digest_size == 20
    assert ScramHash.SHA256.digest_size == 32


def test_rfc5802_keys() -> None:
    """Keys of the RFC 5802 §5 example, recomputed here straight from the RFC's formulas."""
    salt = base64.b64decode("QSXCR+Q6sek8bf92")
    creds = derive_credentials("pencil", ScramHash.SHA1, iterations=4096, salt=salt)
    salted = hashlib.pbkdf2_hmac("sha1", b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha1").digest()
    assert creds.stored_key == hashlib.sha1(client_key).digest()  # noqa: S324 - SCRAM-SHA-1
    assert creds.server_key == hmac.new(salted, b"Server Key", "sha1").digest()
    assert (creds.salt, creds.iterations) == (salt, 4096)


@pytest.mark.parametrize("hash_", list(ScramHash))
def test_derive_and_verify(hash_: ScramHash) -> None:
    creds = derive_credentials("correct horse", hash_, iterations=FAST)
    assert creds.hash is hash_
    assert len(creds.salt) == SALT_BYTES
    assert creds.iterations == FAST
    assert verify_password("correct horse", creds)
    assert not verify_password("correct horsE", creds)
    assert not verify_password("", creds)


def test_default_iterations() -> None:
    assert derive_credentials("pw", ScramHash.SHA1).iterations == DEFAULT_ITERATIONS == 4096


def test_random_salts() -> None:
    first = derive_credentials("pw", ScramHash.SHA256, iterations=FAST)
    second = derive_credentials("pw", ScramHash.SHA256, iterations=FAST)
    assert first.salt != second.salt
    assert first.stored_key != second.stored_key


def test_derive_all() -> None:
    creds = derive_all("pw", iterations=FAST)
    assert set(creds) == set(ScramHash)
    assert creds[ScramHash.SHA1].salt != creds[ScramHash.SHA256].salt
    for hash_, c in creds.items():
        assert c.hash is hash_
        assert c.iterations == FAST
        assert verify_password("pw", c)


def test_password_is_saslprepped() -> None:
    creds = derive_credentials("I\u00adX", ScramHash.SHA256, iterations=FAST)
    assert verify_password("IX", creds)
    assert verify_password("\u2168", creds)  # ROMAN NUMERAL NINE, NFKC -> "IX"
    assert not verify_password("ix", creds)


@pytest.mark.parametrize("refused", ["", "\u00ad", "pass\u0007word", "\u0627\u0031", "a\u0221"])
def test_refused_passwords(refused: str) -> None:
    with pytest.raises(ValueError, match=r"SASLprep|empty"):
        derive_credentials(refused, ScramHash.SHA256, iterations=FAST)


def test_verify_with_prohibited_password_is_false() -> None:
    creds = derive_credentials("pw", ScramHash.SHA256, iterations=FAST)
    assert not verify_password("pw\u0007", creds)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="iteration"):
        derive_credentials("pw", ScramHash.SHA1, iterations=0)
    with pytest.raises(ValueError, match="salt"):
        derive_credentials("pw", ScramHash.SHA1, iterations=FAST, salt=b"")


def test_credentials_validation() -> None:
    good = derive_credentials("pw", ScramHash.SHA1, iterations=FAST)
    with pytest.raises(ValueError, match="keys"):
        dataclasses.replace(good, hash=ScramHash.SHA256)  # 20-byte keys for a 32-byte hash
    with pytest.raises(ValueError, match="iteration"):
        dataclasses.replace(good, iterations=0)
    with pytest.raises(ValueError, match="salt"):
        dataclasses.replace(good, salt=b"")


def test_credentials_are_frozen_and_keys_not_in_repr() -> None:
    creds = derive_credentials("pw", ScramHash.SHA1, iterations=FAST)
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.iterations = 1  # type: ignore[misc]
    text = repr(creds)
    assert "stored_key" not in text
    assert "server_key" not in text
    assert creds.stored_key.hex() not in text


@pytest.mark.parametrize("hash_", list(ScramHash))
def test_dummy_has_the_shape_of_real_credentials(hash_: ScramHash) -> None:
    real = derive_credentials("pw", hash_, iterations=FAST)
    dummy = dummy_credentials("nobody", hash_, FAST)
    assert dummy.hash is real.hash
    assert len(dummy.salt) == len(real.salt) == SALT_BYTES
    assert dummy.iterations == real.iterations
    assert len(dummy.stored_key) == len(real.stored_key)
    assert len(dummy.server_key) == len(real.server_key)


def test_dummy_is_stable_per_username_and_hash() -> None:
    assert dummy_credentials("nobody", ScramHash.SHA256, 4096) == dummy_credentials(
        "nobody", ScramHash.SHA256, 4096
    )
    salts = {
        dummy_credentials("nobody", ScramHash.SHA256, 4096).salt,
        dummy_credentials("nobody2", ScramHash.SHA256, 4096).salt,
        dummy_credentials("nobody", ScramHash.SHA1, 4096).salt,
        dummy_credentials("nobody", ScramHash.SHA256, 4096, secret=b"cluster secret").salt,
    }
    assert len(salts) == 4


def test_dummy_with_shared_secret_is_the_same_on_every_node() -> None:
    a = dummy_credentials("nobody", ScramHash.SHA1, 4096, secret=b"cluster secret")
    b = dummy_credentials("nobody", ScramHash.SHA1, 4096, secret=b"cluster secret")
    assert a == b


def test_dummy_accepts_any_string() -> None:
    dummy_credentials("\ud800 lone surrogate", ScramHash.SHA1, FAST)


def test_dummy_matches_no_obvious_password() -> None:
    dummy = dummy_credentials("nobody", ScramHash.SHA1, FAST)
    for guess in ["", "nobody", "password", "\0"]:
        assert not verify_password(guess, dummy)
