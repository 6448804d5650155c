"""JSON Web Tokens for the HTTP API and OAUTHBEARER: HS256 only.  [pure]

Three kinds of token, told apart by the ``typ`` claim (SPEC §4): short-lived *access* tokens
(``Authorization: Bearer`` on the HTTP API, SASL OAUTHBEARER on XMPP streams), long-lived
*refresh* tokens, exchanged at ``/api/auth/token`` for a new pair, and *admin* tokens for the
HTTP admin API (``/api/admin/…``), which only the holder of the secret mints (``xmpp-video
calls`` does, from the same configuration), lasting `ADMIN_TOKEN_TTL` seconds; their ``sub``
names the operator (e.g. ``cli:root``). A token of one kind never passes as another.

Every refresh token belongs to a *family* (claim ``fam``): the chain of tokens rotated from one
login. The server records each refresh token (``storage.refresh_tokens``) so that a refresh
token works once; a second use means it leaked, and the caller then revokes the whole family.

Claims issued: ``sub`` (the username, i.e. the prepared local part), ``typ`` (``access``,
``refresh`` or ``admin``), ``jti`` (random), ``iat`` and ``exp`` (integer Unix times), and
``fam`` on refresh tokens. The header carries ``kid``, a short id derived from the signing
secret (a hash prefix, never the secret).

Key rotation: :class:`TokenSigner` takes the accepted secrets, newest first
(``Settings.jwt_secrets``). The first signs; all verify, chosen by the token's ``kid``. A token
whose ``kid`` names no accepted secret is refused without trying any; a token without ``kid``
(e.g. from an external issuer sharing the secret) is tried against each accepted secret.

Typical use::

    signer = TokenSigner(settings.jwt_secrets, settings.access_token_ttl,
                         settings.refresh_token_ttl)
    access, _ = signer.issue_access("alice")
    refresh, claims = signer.issue_refresh("alice")   # then store claims.jti / claims.family
    try:
        claims = signer.verify(bearer, TokenKind.ACCESS)
    except TokenError as exc:
        ...  # 401 {"error": exc.code, "message": str(exc)}

:meth:`TokenSigner.verify` raises :class:`TokenError` for every refused input and no other
exception, whatever the string. Its messages never contain the token or a secret.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

__all__ = [
    "ADMIN_TOKEN_TTL",
    "ALGORITHM",
    "IAT_LEEWAY_S",
    "MAX_TOKEN_LENGTH",
    "MIN_SECRET_BYTES",
    "Claims",
    "TokenError",
    "TokenErrorCode",
    "TokenKind",
    "TokenSigner",
    "key_id",
]

ALGORITHM = "HS256"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32
# Clocks of cluster nodes may differ a little: an ``iat`` (or ``nbf``) this far in the future is
# still accepted. Expiry gets no leeway (it would only lengthen a token's life).
IAT_LEEWAY_S = 30
# Far above any token issued here (a 1023-byte username included); bounds the parsing work.
MAX_TOKEN_LENGTH = 8192
KEY_ID_LENGTH = 16
# Admin tokens are minted per command by the CLI: a minute is plenty, and a leaked one is soon
# worthless.
ADMIN_TOKEN_TTL = 60

# Signature and JSON only: claims and times are checked below, against the injected clock.
_DECODER = jwt.PyJWT(
    options={
        "verify_signature": True,
        "verify_exp": False,
        "verify_iat": False,
        "verify_nbf": False,
        "verify_iss": False,
        "verify_aud": True,  # a token meant for some audience is not meant for us
        "verify_sub": False,
        "verify_jti": False,
        "require": [],
        "enforce_minimum_key_length": True,
    }
)
_JWS = jwt.PyJWS(options={"enforce_minimum_key_length": True})
# What PyJWT and the JSON parser may raise on hostile input (binascii.Error and
# UnicodeDecodeError are ValueErrors; deeply nested JSON is a RecursionError).
_PARSE_ERRORS = (jwt.PyJWTError, ValueError, TypeError, KeyError, RecursionError)


class TokenKind(StrEnum):
    """The ``typ`` claim."""

    ACCESS = "access"
    REFRESH = "refresh"
    ADMIN = "admin"


class TokenErrorCode(StrEnum):
    """``TokenError.code``: the ``error`` field of the HTTP JSON answer (status 401)."""

    INVALID = "invalid_token"
    EXPIRED = "token_expired"


class TokenError(Exception):
    """A token was refused. ``code`` is for the client; the message is human text."""

    def __init__(self, code: TokenErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified (or just issued) content of a token.

    ``sub`` is the username (prepared local part); ``iat`` and ``exp`` are Unix times;
    ``family`` is set for refresh tokens only.
    """

    sub: str
    kind: TokenKind
    jti: str
    iat: int
    exp: int
    family: str | None = None


def key_id(secret: str) -> str:
    """The ``kid`` of ``secret``: the first 16 hex digits of its SHA-256 (never the secret)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:KEY_ID_LENGTH]


def _invalid(message: str) -> TokenError:
    return TokenError(TokenErrorCode.INVALID, message)


def _prepare_secret(secret: str) -> bytes:
    key = secret.encode("utf-8")
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"JWT secret {key_id(secret)} is {len(key)} bytes long: HS256 needs at least "
            f"{MIN_SECRET_BYTES} (RFC 7518 §3.2)"
        )
    try:
        # PyJWT refuses HMAC keys that look like PEM or SSH public keys.
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(key)
    except jwt.InvalidKeyError as exc:
        raise ValueError(f"JWT secret {key_id(secret)} refused: {exc}") from None
    return key


def _int_claim(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    # bool is an int subclass; a JSON true is no time
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"claim {name!r} missing or not an integer")
    return value


def _str_claim(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"claim {name!r} missing or not a non-empty string")
    return value


class TokenSigner:
    """Issues and verifies HS256 tokens with rotating secrets.

    ``secrets``: the accepted secrets, the signing one first (``Settings.jwt_secrets``); each
    must be at least 32 bytes (``ValueError`` otherwise). ``access_ttl`` and ``refresh_ttl``:
    lifetimes in seconds. ``now``: the clock, Unix time in seconds.
    """

    def __init__(
        self,
        secrets: Sequence[str],
        access_ttl: int,
        refresh_ttl: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(secrets, str):
            raise TypeError("secrets must be a sequence of strings, not one string")
        if not secrets:
            raise ValueError("at least one JWT secret is needed")
        if access_ttl < 1 or refresh_ttl < 1:
            raise ValueError("token lifetimes must be positive")
        keys: dict[str, bytes] = {}
        for secret in secrets:
            keys.setdefault(key_id(secret), _prepare_secret(secret))
        self._keys = keys
        self._signing_kid = key_id(secrets[0])
        self._signing_key = keys[self._signing_kid]
        self._ttl = {
            TokenKind.ACCESS: access_ttl,
            TokenKind.REFRESH: refresh_ttl,
            TokenKind.ADMIN: ADMIN_TOKEN_TTL,
        }
        self._now = now

    @property
    def signing_kid(self) -> str:
        """The ``kid`` put in the header of tokens issued now."""
        return self._signing_kid

    def issue_access(self, username: str) -> tuple[str, Claims]:
        """A new access token for ``username`` and its claims."""
        return self._issue(username, TokenKind.ACCESS, None)

    def issue_refresh(self, username: str, family: str | None = None) -> tuple[str, Claims]:
        """A new refresh token for ``username``, in ``family`` (a new random one when None).

        The caller records it (``RefreshTokenRepository.add``) before handing it out.
        """
        return self._issue(username, TokenKind.REFRESH, family or secrets.token_urlsafe(16))

    def issue_admin(self, operator: str) -> tuple[str, Claims]:
        """A new admin token naming ``operator`` (who is acting, e.g. ``cli:root``), valid
        `ADMIN_TOKEN_TTL` seconds, for the HTTP admin API."""
        return self._issue(operator, TokenKind.ADMIN, None)

    def _issue(self, username: str, kind: TokenKind, family: str | None) -> tuple[str, Claims]:
        if not username:
            raise ValueError("a token needs a non-empty username")
        iat = int(self._now())
        claims = Claims(
            sub=username,
            kind=kind,
            jti=secrets.token_urlsafe(16),
            iat=iat,
            exp=iat + self._ttl[kind],
            family=family,
        )
        payload: dict[str, Any] = {
            "sub": claims.sub,
            "typ": claims.kind.value,
            "jti": claims.jti,
            "iat": claims.iat,
            "exp": claims.exp,
        }
        if family is not None:
            payload["fam"] = family
        token = jwt.encode(
            payload,
            self._signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self._signing_kid},
        )
        return token, claims

    def verify(self, token: str, expected: TokenKind) -> Claims:
        """The claims of ``token`` if it is a valid, unexpired token of kind ``expected``.

        Raises :class:`TokenError` (``token_expired`` once ``exp`` has passed, otherwise
        ``invalid_token``) for anything else: malformed input, an algorithm other than HS256
        (``none`` included), an unknown ``kid``, a bad signature, a missing or ill-typed claim
        (``sub``, ``typ``, ``jti``, ``iat``, ``exp``; ``fam`` for refresh tokens), the other kind
        of token, or an ``iat``/``nbf`` in the future beyond :data:`IAT_LEEWAY_S`.
        """
        if not isinstance(token, str) or not token:
            raise _invalid("no token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise _invalid("token too long")
        try:
            header = _JWS.get_unverified_header(token)
        except _PARSE_ERRORS:
            raise _invalid("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise _invalid(f"only {ALGORITHM} tokens are accepted")
        payload = self._check_signature(token, header)
        return self._claims(payload, expected)

    def _check_signature(self, token: str, header: Mapping[str, Any]) -> dict[str, Any]:
        if "kid" in header:
            kid = header["kid"]
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise _invalid("token signed with an unknown key")
            candidates: Sequence[bytes] = (key,)
        else:
            candidates = tuple(self._keys.values())
        for key in candidates:
            try:
                payload: dict[str, Any] = _DECODER.decode(token, key, algorithms=[ALGORITHM])
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidAudienceError:
                raise _invalid("token meant for another audience") from None
            except _PARSE_ERRORS:
                raise _invalid("malformed token") from None
            return payload
        raise _invalid("bad token signature")

    def _claims(self, payload: Mapping[str, Any], expected: TokenKind) -> Claims:
        sub = _str_claim(payload, "sub")
        jti = _str_claim(payload, "jti")
        iat = _int_claim(payload, "iat")
        exp = _int_claim(payload, "exp")
        typ = payload.get("typ")
        if typ not in (TokenKind.ACCESS.value, TokenKind.REFRESH.value, TokenKind.ADMIN.value):
            raise _invalid("claim 'typ' missing or unknown")
        kind = TokenKind(typ)
        if kind is not expected:
            raise _invalid(f"{kind.value} token where an {expected.value} token is needed")
        family = _str_claim(payload, "fam") if kind is TokenKind.REFRESH else None
        if exp <= iat:
            raise _invalid("token expires before it was issued")
        now = self._now()
        if iat > now + IAT_LEEWAY_S:
            raise _invalid("token issued in the future")
        if "nbf" in payload:
            nbf = payload["nbf"]
            if not isinstance(nbf, int | float) or isinstance(nbf, bool):
                raise _invalid("claim 'nbf' is not a number")
            if nbf > now + IAT_LEEWAY_S:
                raise _invalid("token not valid yet")
        if now >= exp:
            raise TokenError(TokenErrorCode.EXPIRED, "token expired")
        return Claims(sub=sub, kind=kind, jti=jti, iat=iat, exp=exp, family=family)
