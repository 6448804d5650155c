"""SASL OAUTHBEARER server (RFC 7628), sans-IO.  [pure]

The client sends a bearer token (here: our own JWT access token) in its first message; the server
answers success, or a JSON error challenge that the client acknowledges with a single ``\\x01``
before the exchange fails. One ``OAuthBearerServer`` per attempt; the caller (the stream's SASL
step) drives it and verifies the token itself::

    server = OAuthBearerServer()
    request = server.start(initial_response)      # from <auth mechanism='OAUTHBEARER'>
    user = await verify_access_token(request.token)   # elsewhere, async
    if user is not None:
        # check request.authzid here (None, or the user's own bare JID) -> else raise
        # SaslFailure(invalid-authzid) and end the attempt
        server.accept()                           # send <success/> (no additional data)
    else:
        challenge = server.error_challenge()      # send in <challenge/>
        server.finish_after_error(response)       # from <response/>: always raises SaslFailure

OAUTHBEARER is client-first: if ``<auth/>`` carried no initial response, the stream sends an
empty ``<challenge/>`` and passes the client's ``<response/>`` to ``start``. The client may
also answer the error challenge with ``<abort/>``; the stream handles that (``aborted``) without
calling ``finish_after_error``.

Every method raises ``SaslFailure`` and never any other exception for anything the client sent.
States (``_TRANSITIONS`` below): a step called in any other state, or any step after a failure,
raises ``SaslFailure(malformed-request)``; the object is then spent.

Conditions (RFC 6120 §6.5):

* syntax errors of RFC 7628 §3.1 (not UTF-8, bad GS2 header, bad ``\\x01`` framing, bad
  ``key=value`` pairs, a key given twice, no ``auth=``, a scheme other than ``Bearer``, a token
  that is not a ``b64token``, a bad ``port=``) -> malformed-request;
* GS2 flag ``p=<cb-name>`` (the client demands channel binding): OAUTHBEARER has no ``-PLUS``
  variant, so, as for SCRAM, the message violates the selected mechanism -> malformed-request.
  ``y`` (the client could bind but thinks we cannot) is accepted, since we indeed cannot;
* the token is refused (decided by the caller) -> the error challenge, then not-authorized once
  the client sent its ``\\x01``; any other response to the challenge -> malformed-request.

The token is never part of a ``repr`` or an exception text, so neither reaches the logs.
"""

import json
import re
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final, NoReturn

from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure

__all__ = ["OAuthBearerRequest", "OAuthBearerServer", "parse_client_response"]


class _State(Enum):
    EXPECT_INITIAL = auto()
    EXPECT_VERDICT = auto()
    EXPECT_DUMMY = auto()
    SUCCEEDED = auto()
    FAILED = auto()


class _Step(Enum):
    INITIAL = auto()
    ACCEPT = auto()
    ERROR_CHALLENGE = auto()
    DUMMY = auto()


# (state, step) -> state after the step succeeded. A step that fails leaves the server FAILED.
_TRANSITIONS: Final[dict[tuple[_State, _Step], _State]] = {
    (_State.EXPECT_INITIAL, _Step.INITIAL): _State.EXPECT_VERDICT,
    (_State.EXPECT_VERDICT, _Step.ACCEPT): _State.SUCCEEDED,
    (_State.EXPECT_VERDICT, _Step.ERROR_CHALLENGE): _State.EXPECT_DUMMY,
    (_State.EXPECT_DUMMY, _Step.DUMMY): _State.FAILED,  # the exchange fails in any case
}

_KVSEP: Final = "\x01"
_DUMMY_RESPONSE: Final = b"\x01"
# RFC 7628 §3.1: key = 1*(ALPHA); value = *(VCHAR / SP / HTAB / CR / LF)
_KEY: Final = re.compile(r"[A-Za-z]+")
_VALUE: Final = re.compile(r"[\x21-\x7e \t\r\n]*")
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token (ABNF literals are case-insensitive)
_AUTH_VALUE: Final = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
_PORT: Final = re.compile(r"[0-9]{1,5}")  # bounded: int() of thousands of digits raises


def _malformed(text: str) -> SaslFailure:
    return SaslFailure(SaslCondition.MALFORMED_REQUEST, text)


@dataclass(frozen=True, slots=True)
class OAuthBearerRequest:
    """What the client's OAUTHBEARER message asked for (RFC 7628 §3.1)."""

    token: str = field(repr=False)
    """The bearer token (``b64token`` syntax, e.g. a JWT) to verify; kept out of ``repr``."""
    authzid: str | None
    """Authorization identity of the GS2 header, unescaped; None if the client sent none."""
    host: str | None
    """``host=`` as sent (informational; the client's idea of our name), or None."""
    port: int | None
    """``port=`` (0-65535, informational), or None."""


def _unescape_saslname(value: str) -> str:
    """RFC 5801 ``saslname``: 1 or more characters, '=' only in '=2C' (',') and '=3D' ('=')."""
    if not value:
        raise _malformed("empty authzid in OAUTHBEARER GS2 header")
    head, *rest = value.split("=")
    out = [head]
    for part in rest:
        escape = part[:2].upper()  # ABNF strings are case-insensitive (RFC 5234 §2.3)
        if escape == "2C":
            out.append(",")
        elif escape == "3D":
            out.append("=")
        else:
            raise _malformed("bad '=' escape in OAUTHBEARER authzid")
        out.append(part[2:])
    return "".join(out)


def _parse_gs2_header(flag: str, authzid_field: str) -> str | None:
    if flag.startswith("p="):
        raise _malformed("OAUTHBEARER does not support channel binding")
    if flag == "F":
        raise _malformed("non-standard GS2 flag is not valid for OAUTHBEARER")
    if flag not in ("n", "y"):
        raise _malformed("bad OAUTHBEARER channel binding flag")
    if not authzid_field:
        return None
    if not authzid_field.startswith("a="):
        raise _malformed("bad authzid in OAUTHBEARER GS2 header")
    authzid = _unescape_saslname(authzid_field[2:])
    if "\0" in authzid:
        raise _malformed("NUL in OAUTHBEARER authzid")
    return authzid


def _parse_pairs(pairs: list[str]) -> dict[str, str]:
    """Return {lower-case key: value}; keys are unique (case-insensitively)."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _KEY.fullmatch(key) or not _VALUE.fullmatch(value):
            raise _malformed("bad key=value pair in OAUTHBEARER message")
        key = key.lower()
        if key in result:
            raise _malformed("repeated key in OAUTHBEARER message")
        result[key] = value
    return result


def parse_client_response(message: bytes) -> OAuthBearerRequest:
    """Parse the client's initial response ``gs2-header %x01 *(key=value %x01) %x01``.

    Unknown keys are ignored. Raises ``SaslFailure(malformed-request)`` for any syntax error
    (see the module docstring), including the lone ``\\x01`` a client sends after an error.
    """
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("OAUTHBEARER message is not UTF-8") from None
    fields = text.split(",", 2)
    if len(fields) != 3:
        raise _malformed("OAUTHBEARER GS2 header missing")
    flag, authzid_field, rest = fields
    authzid = _parse_gs2_header(flag, authzid_field)

    # rest = %x01 *(kvpair %x01) %x01, e.g. "\x01auth=Bearer t\x01\x01" -> ["", "auth=...", "", ""]
    parts = rest.split(_KVSEP)
    if len(parts) < 3 or parts[0] or parts[-2] or parts[-1]:
        raise _malformed("bad OAUTHBEARER message framing")
    pairs = parts[1:-2]
    if "" in pairs:
        raise _malformed("bad OAUTHBEARER message framing")
    values = _parse_pairs(pairs)

    auth = values.get("auth")
    if auth is None:
        raise _malformed("OAUTHBEARER message has no auth=")
    match = _AUTH_VALUE.fullmatch(auth)
    if match is None:
        raise _malformed("OAUTHBEARER auth= is not a Bearer token")

    port: int | None = None
    port_value = values.get("port")
    if port_value is not None:
        if not _PORT.fullmatch(port_value) or int(port_value) > 65535:
            raise _malformed("bad OAUTHBEARER port=")
        port = int(port_value)

    return OAuthBearerRequest(
        token=match.group(1), authzid=authzid, host=values.get("host"), port=port
    )


class OAuthBearerServer:
    """Server side of one OAUTHBEARER exchange (see the module docstring for the sequence)."""

    request: OAuthBearerRequest | None
    """The parsed initial response; None until ``start`` succeeded."""
    authenticated: bool
    """True once the caller called ``accept``."""

    def __init__(self) -> None:
        self.request = None
        self.authenticated = False
        self._state = _State.EXPECT_INITIAL

    def _begin(self, step: _Step) -> _State:
        """Check that ``step`` may run now; the server is FAILED until ``step`` completes."""
        next_state = _TRANSITIONS.get((self._state, step))
        self._state = _State.FAILED
        if next_state is None:
            raise _malformed("unexpected OAUTHBEARER step")
        return next_state

    def start(self, initial: bytes) -> OAuthBearerRequest:
        """Parse the client's initial response (see ``parse_client_response``).

        Next: verify ``request.token`` and check ``request.authzid``; then call ``accept``, or
        ``error_challenge`` if the token is refused (or raise ``SaslFailure(invalid-authzid)``
        yourself for a valid token with a foreign authzid).
        """
        next_state = self._begin(_Step.INITIAL)
        request = parse_client_response(initial)
        self.request = request
        self._state = next_state
        return request

    def accept(self) -> None:
        """Record that the caller accepted the token: send ``<success/>`` without data."""
        self._state = self._begin(_Step.ACCEPT)
        self.authenticated = True

    def error_challenge(
        self, *, scope: str | None = None, openid_configuration: str | None = None
    ) -> bytes:
        """Return the RFC 7628 §3.2.2 error JSON: send it in ``<challenge/>``.

        ``{"status":"invalid_token"}``, plus ``scope`` and ``openid-configuration`` (a URL) when
        given. Next: wait for the client's ``<response/>`` and call ``finish_after_error``.
        """
        next_state = self._begin(_Step.ERROR_CHALLENGE)
        error: dict[str, str] = {"status": "invalid_token"}
        if scope is not None:
            error["scope"] = scope
        if openid_configuration is not None:
            error["openid-configuration"] = openid_configuration
        self._state = next_state
        return json.dumps(error, separators=(",", ":")).encode()

    def finish_after_error(self, response: bytes) -> NoReturn:
        """Take the client's answer to the error challenge; the exchange fails in any case.

        Raises ``SaslFailure(not-authorized)`` for the expected single ``\\x01``, and
        ``SaslFailure(malformed-request)`` for anything else (or if no challenge was sent).
        """
        self._state = self._begin(_Step.DUMMY)
        if response != _DUMMY_RESPONSE:
            raise _malformed("OAUTHBEARER expected a single %x01 after the error challenge")
        raise SaslFailure(SaslCondition.NOT_AUTHORIZED, "invalid token")
