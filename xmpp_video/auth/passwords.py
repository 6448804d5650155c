"""Password storage as SCRAM keys (RFC 5802 §3, RFC 7677).  [pure]

The server never stores a password. For every user and every SCRAM hash it stores
``ScramCredentials``: salt, iteration count, ``StoredKey = H(HMAC(SaltedPassword, "Client Key"))``
and ``ServerKey = HMAC(SaltedPassword, "Server Key")``. These are enough to run SCRAM
(``scram.ScramServer``) and to check a PLAIN password (``verify_password``).

Typical use::

    creds = derive_all(new_password)             # on registration / password change; store them
    ok = verify_password(plain_password, creds[ScramHash.SHA256])       # PLAIN
    creds = dummy_credentials(username, ScramHash.SHA256, iterations)   # SCRAM, unknown user

``derive_credentials`` and ``derive_all`` cost ``iterations`` rounds of PBKDF2 per hash (a few
milliseconds at 4096): call them off the event loop if that matters.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from xmpp_video.auth.saslprep import saslprep

__all__ = [
    "DEFAULT_ITERATIONS",
    "SALT_BYTES",
    "ScramCredentials",
    "ScramHash",
    "derive_all",
    "derive_credentials",
    "dummy_credentials",
    "verify_password",
]

DEFAULT_ITERATIONS = 4096
"""RFC 5802 §5.1 / RFC 7677 §4 minimum; clients such as aiosasl refuse anything lower."""

SALT_BYTES = 16
"""Length of every salt this module makes, real or dummy (so the two cannot be told apart)."""


class ScramHash(StrEnum):
    """The hash of a SCRAM mechanism; the value is the suffix of the mechanism name."""

    SHA1 = "SHA-1"
    SHA256 = "SHA-256"

    @property
    def mechanism(self) -> str:
        """The SASL mechanism name, e.g. ``"SCRAM-SHA-256"``."""
        return f"SCRAM-{self.value}"

    @property
    def hashlib_name(self) -> str:
        return _HASHLIB_NAMES[self]

    @property
    def digest_size(self) -> int:
        return hashlib.new(self.hashlib_name).digest_size

    def digest(self, data: bytes) -> bytes:
        """``H(data)`` of RFC 5802."""
        return hashlib.new(self.hashlib_name, data).digest()

    def hmac(self, key: bytes, message: bytes) -> bytes:
        """``HMAC(key, message)`` of RFC 5802."""
        return hmac.new(key, message, self.hashlib_name).digest()


_HASHLIB_NAMES = {ScramHash.SHA1: "sha1", ScramHash.SHA256: "sha256"}


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """What is stored per user and SCRAM hash: never the password.

    The keys are left out of ``repr`` so that they do not end up in logs: ``StoredKey`` together
    with one observed exchange lets an attacker impersonate the user.
    """

    hash: ScramHash
    salt: bytes
    iterations: int
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError("SCRAM iteration count must be at least 1")
        if not self.salt:
            raise ValueError("SCRAM salt must not be empty")
        size = self.hash.digest_size
        if len(self.stored_key) != size or len(self.server_key) != size:
            raise ValueError(f"SCRAM-{self.hash} keys must be {size} bytes long")


def _salted_password(prepared: str, hash: ScramHash, salt: bytes, iterations: int) -> bytes:
    """``SaltedPassword := Hi(Normalize(password), salt, i)``, given the SASLprepped password."""
    return hashlib.pbkdf2_hmac(hash.hashlib_name, prepared.encode("utf-8"), salt, iterations)


def _client_key(hash: ScramHash, salted_password: bytes) -> bytes:
    return hash.hmac(salted_password, b"Client Key")


def derive_credentials(
    password: str,
    hash: ScramHash,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    salt: bytes | None = None,
) -> ScramCredentials:
    """Compute what to store for ``password`` under SCRAM-``hash``.

    A fresh random salt of ``SALT_BYTES`` bytes is drawn unless ``salt`` is given (test vectors).
    Raises ``ValueError`` if the password is empty after SASLprep, if SASLprep refuses it
    (prohibited or, for a stored string, unassigned characters: tell the user the password is
    not allowed), or if ``iterations`` < 1 or ``salt`` is empty.
    """
    if iterations < 1:
        raise ValueError("SCRAM iteration count must be at least 1")
    if salt is None:
        salt = secrets.token_bytes(SALT_BYTES)
    prepared = saslprep(password)
    if not prepared:
        raise ValueError("password is empty")
    salted = _salted_password(prepared, hash, salt, iterations)
    client_key = _client_key(hash, salted)
    return ScramCredentials(
        hash=hash,
        salt=salt,
        iterations=iterations,
        stored_key=hash.digest(client_key),
        server_key=hash.hmac(salted, b"Server Key"),
    )


def derive_all(
    password: str, *, iterations: int = DEFAULT_ITERATIONS
) -> dict[ScramHash, ScramCredentials]:
    """``derive_credentials`` for every ``ScramHash``, each with its own random salt."""
    return {h: derive_credentials(password, h, iterations=iterations) for h in ScramHash}


def verify_password(password: str, creds: ScramCredentials) -> bool:
    """True if ``password`` (e.g. from PLAIN) is the one ``creds`` were derived from.

    Recomputes ``StoredKey`` (``creds.iterations`` rounds of PBKDF2) and compares in constant time.
    A password that SASLprep refuses cannot have been stored, so it is simply wrong (False).
    """
    try:
        prepared = saslprep(password)
    except ValueError:
        return False
    salted = _salted_password(prepared, creds.hash, creds.salt, creds.iterations)
    stored_key = creds.hash.digest(_client_key(creds.hash, salted))
    return hmac.compare_digest(stored_key, creds.stored_key)


_DUMMY_KEY = secrets.token_bytes(32)
"""Per-process secret for ``dummy_credentials``; see its ``secret`` parameter for clusters."""


def dummy_credentials(
    username: str,
    hash: ScramHash,
    iterations: int,
    *,
    secret: bytes | None = None,
) -> ScramCredentials:
    """Fake credentials for a user that does not exist, so that SCRAM cannot enumerate users.

    Feed them to ``ScramServer.server_first`` exactly as real credentials: the client sees a
    salt of the usual length and the configured iteration count, stable for the same
    ``username`` and ``hash`` (as a real user's would be), and the exchange ends with the same
    ``not-authorized`` as a wrong password. No password matches them (the keys are random-looking
    values, not derived from any password).

    Everything is an HMAC of ``username`` under a per-process random key, so the salt changes
    when the process restarts. Servers behind one domain (a cluster) must pass the same
    ``secret`` on every node, or an attacker could spot unknown users by their salt changing
    from one node to the next.
    """
    key = _DUMMY_KEY if secret is None else secret
    label = b"\0".join((hash.value.encode("ascii"), username.encode("utf-8", "surrogatepass")))

    def derive(purpose: bytes, size: int) -> bytes:
        return hmac.new(key, purpose + b"\0" + label, "sha256").digest()[:size]

    size = hash.digest_size
    return ScramCredentials(
        hash=hash,
        salt=derive(b"salt", SALT_BYTES),
        iterations=iterations,
        stored_key=derive(b"stored-key", size),
        server_key=derive(b"server-key", size),
    )
