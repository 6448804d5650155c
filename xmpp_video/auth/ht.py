"""The Hashed Token SASL mechanism (draft-schmaus-kitten-sasl-ht), server side.  [pure]

FAST (XEP-0484) authenticates with a token the server handed out before. The client proves it
holds the token without sending it: its only message is ``authcid NUL initiator-hash`` with
``initiator-hash = HMAC-SHA-256(token, "Initiator" || cb-data)``; the server answers success with
``HMAC-SHA-256(token, "Responder" || cb-data)`` as additional data (mutual authentication).

Only ``HT-SHA-256-NONE`` is implemented: no channel binding, so ``cb-data`` is empty and both
hashes are constants of the token. That lets the server keep no token at all: it stores
``verifier = SHA-256(initiator-hash)`` and ``responder``, and checks a client's initiator hash by
hashing it and comparing the result with the verifier in constant time. A stolen table row lets
nobody log in (SHA-256 is not invertible); it only holds the server's own proof. The
channel-binding variants (``-ENDP``, ``-UNIQ``, ``-EXPR``) would need the token itself at every
authentication, so they are not offered.

Conditions: a message without NUL, an empty, non-UTF-8 or SASLprep-refused authcid, or an
initiator hash that is not 32 bytes → ``malformed-request``. A hash that matches no token is
decided by the caller (``not-authorized``).
"""

import hashlib
import hmac
from typing import Final

from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure
from xmpp_video.auth.saslprep import saslprep

__all__ = ["MECHANISMS", "initiator", "parse_message", "responder", "verifier", "verify"]

HT_SHA_256_NONE: Final = "HT-SHA-256-NONE"
MECHANISMS: Final = (HT_SHA_256_NONE,)
_DIGEST_SIZE: Final = 32


def _malformed(text: str) -> SaslFailure:
    return SaslFailure(SaslCondition.MALFORMED_REQUEST, text)


def initiator(token: str, cb_data: bytes = b"") -> bytes:
    """What the client sends: HMAC-SHA-256(token, "Initiator" || cb-data)."""
    return hmac.digest(token.encode(), b"Initiator" + cb_data, "sha256")


def responder(token: str, cb_data: bytes = b"") -> bytes:
    """What the server answers: HMAC-SHA-256(token, "Responder" || cb-data)."""
    return hmac.digest(token.encode(), b"Responder" + cb_data, "sha256")


def verifier(initiator_hash: bytes) -> bytes:
    """What the server stores to recognise an initiator hash: its SHA-256."""
    return hashlib.sha256(initiator_hash).digest()


def verify(stored_verifier: bytes, initiator_hash: bytes) -> bool:
    """Whether ``initiator_hash`` belongs to the token of ``stored_verifier`` (constant time)."""
    return hmac.compare_digest(verifier(initiator_hash), stored_verifier)


def parse_message(message: bytes) -> tuple[str, bytes]:
    """``(authcid, initiator_hash)`` from the client's message; the authcid is SASLprepped as a
    query (as SCRAM and PLAIN do). Raises ``SaslFailure(malformed-request)``."""
    name, nul, initiator_hash = message.partition(b"\0")
    if not nul:
        raise _malformed("HT message needs a NUL between authcid and hash")
    if len(initiator_hash) != _DIGEST_SIZE:
        raise _malformed("HT hash has the wrong length")
    try:
        authcid = saslprep(name.decode("utf-8"), allow_unassigned=True)
    except (UnicodeDecodeError, ValueError):
        raise _malformed("HT authcid refused") from None
    if not authcid:
        raise _malformed("HT authcid empty")
    return authcid, initiator_hash
