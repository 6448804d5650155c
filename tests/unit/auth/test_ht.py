"""HT-SHA-256-NONE (draft-schmaus-kitten-sasl-ht), server side: hashes, parsing, verification."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.auth import ht
from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure


def test_hashes_follow_the_draft() -> None:
    token = "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm"
    assert ht.initiator(token) == hmac.new(token.encode(), b"Initiator", "sha256").digest()
    assert ht.responder(token) == hmac.new(token.encode(), b"Responder", "sha256").digest()
    assert ht.initiator(token, b"cb") == hmac.new(token.encode(), b"Initiatorcb", "sha256").digest()
    assert ht.verifier(ht.initiator(token)) == hashlib.sha256(ht.initiator(token)).digest()


def test_verify() -> None:
    stored = ht.verifier(ht.initiator("right"))
    assert ht.verify(stored, ht.initiator("right"))
    assert not ht.verify(stored, ht.initiator("wrong"))
    assert not ht.verify(stored, b"")


def test_parse_message_keeps_nul_bytes_of_the_hash() -> None:
    digest = b"\0" * 31 + b"\x01"
    assert ht.parse_message(b"Juliet\0" + digest) == ("Juliet", digest)


@pytest.mark.parametrize(
    "message",
    [b"juliet", b"\0" + bytes(32), b"juliet\0" + bytes(31), b"\xff\0" + bytes(32), b""],
)
def test_malformed(message: bytes) -> None:
    with pytest.raises(SaslFailure) as caught:
        ht.parse_message(message)
    assert caught.value.condition is SaslCondition.MALFORMED_REQUEST


@given(st.binary(max_size=80))
def test_any_message_is_parsed_or_malformed(message: bytes) -> None:
    try:
        authcid, digest = ht.parse_message(message)
    except SaslFailure as exc:
        condition = exc.condition
    else:
        assert authcid
        assert len(digest) == 32
        return
    assert condition is SaslCondition.MALFORMED_REQUEST
