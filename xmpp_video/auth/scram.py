"""SCRAM-SHA-1 / SCRAM-SHA-256 server (RFC 5802, RFC 7677), sans-IO.  [pure]

One ``ScramServer`` per authentication attempt. The caller (the stream's SASL step) drives it::

    server = ScramServer(ScramHash.SHA256)
    username = server.client_first(initial_response)         # from <auth mechanism=...>
    creds = lookup(username) or dummy_credentials(username, ScramHash.SHA256, iterations)
    # check server.authzid here (None, or the user's own bare JID) -> else "invalid-authzid"
    challenge = server.server_first(creds)                    # send in <challenge/>
    additional_data = server.client_final(response)           # from <response/>
    # success: send additional_data in <success/>; server.authenticated is True

Every method raises ``SaslFailure`` (answer ``<failure/>`` with its condition and end the
attempt) and never any other exception for anything the client sent. The only other exception
is ``ValueError`` from ``server_first`` when the caller passes credentials of the wrong hash: a
bug in the caller, not a client error.

States (``_TRANSITIONS`` below): a step called in any other state, or any step after a failure,
raises ``SaslFailure(malformed-request)``; the object is then spent.

Conditions (RFC 6120 §6.5):

* syntax errors of RFC 5802 §7 (bad UTF-8, NUL, missing or misplaced attributes, bad ``=2C``/``=3D``
  escapes, bad base64, a user name that SASLprep refuses or maps to nothing) -> malformed-request;
* gs2 flag ``p=<cb-name>`` (the client demands channel binding): only valid with a ``-PLUS``
  mechanism, which this server does not offer, so the message violates the syntax of the
  mechanism that was selected (§6.5.5 malformed-request; ``not-authorized`` would wrongly tell
  the client its password is bad). RFC 5802 §6 requires failing; Prosody and ejabberd answer
  malformed-request too;
* mandatory extension ``m=`` (RFC 5802 §5.1: "MUST cause authentication failure") ->
  malformed-request; optional extensions (any other single-letter attribute) are ignored;
* channel-binding echo ``c=`` differs from the gs2 header, nonce differs, wrong proof ->
  not-authorized (the same for an unknown user fed with ``dummy_credentials``).

The authzid of the gs2 header is kept, unescaped and otherwise untouched, in ``authzid``; this
module does not judge it.
"""

import base64
import hmac
import secrets
from enum import Enum, auto
from typing import Final

from xmpp_video.auth.passwords import ScramCredentials, ScramHash
from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure
from xmpp_video.auth.saslprep import saslprep

__all__ = ["SaslCondition", "SaslFailure", "ScramServer"]


class _State(Enum):
    EXPECT_CLIENT_FIRST = auto()
    EXPECT_CREDENTIALS = auto()
    EXPECT_CLIENT_FINAL = auto()
    SUCCEEDED = auto()
    FAILED = auto()


class _Step(Enum):
    CLIENT_FIRST = auto()
    SERVER_FIRST = auto()
    CLIENT_FINAL = auto()


# (state, step) -> state after the step succeeded. A step that fails leaves the server FAILED.
_TRANSITIONS: Final[dict[tuple[_State, _Step], _State]] = {
    (_State.EXPECT_CLIENT_FIRST, _Step.CLIENT_FIRST): _State.EXPECT_CREDENTIALS,
    (_State.EXPECT_CREDENTIALS, _Step.SERVER_FIRST): _State.EXPECT_CLIENT_FINAL,
    (_State.EXPECT_CLIENT_FINAL, _Step.CLIENT_FINAL): _State.SUCCEEDED,
}

_MALFORMED = SaslCondition.MALFORMED_REQUEST
_NOT_AUTHORIZED = SaslCondition.NOT_AUTHORIZED


def _malformed(text: str) -> SaslFailure:
    return SaslFailure(_MALFORMED, text)


def _is_printable(s: str) -> bool:
    """RFC 5802 ``printable``: %x21-2B / %x2D-7E (printable ASCII except ',')."""
    return all("\x21" <= c <= "\x7e" and c != "," for c in s)


def _decode(message: bytes) -> str:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("SCRAM message is not UTF-8") from None
    if "\0" in text:
        raise _malformed("SCRAM message contains NUL")
    return text


def _unescape_saslname(value: str) -> str:
    """RFC 5802 ``saslname``: 1 or more characters, '=' only in '=2C' (',') and '=3D' ('=')."""
    if not value:
        raise _malformed("empty name in SCRAM message")
    head, *rest = value.split("=")
    out = [head]
    for part in rest:
        # ABNF strings are case-insensitive (RFC 5234 §2.3), so '=2c' is '=2C'.
        escape = part[:2].upper()
        if escape == "2C":
            out.append(",")
        elif escape == "3D":
            out.append("=")
        else:
            raise _malformed("bad '=' escape in SCRAM name")
        out.append(part[2:])
    return "".join(out)


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII input
        raise _malformed("bad base64 in SCRAM message") from None


def _check_extensions(attributes: list[str]) -> None:
    """Optional extensions (``attr-val``) are ignored; ``m=`` (mandatory) fails the exchange."""
    for attribute in attributes:
        name = attribute[:1]
        if len(attribute) < 3 or attribute[1] != "=" or not (name.isascii() and name.isalpha()):
            raise _malformed("bad attribute in SCRAM message")
        if name == "m":
            raise _malformed("SCRAM mandatory extensions are not supported")


class ScramServer:
    """Server side of one SCRAM exchange (see the module docstring for the calling sequence).

    ``nonce`` is the server's part of the nonce (printable ASCII without ','); leave it ``None``
    (a fresh random one) except to replay test vectors.

    ``channel_binding_offered``: set it to True if the server also advertises the ``-PLUS``
    variant of this mechanism (it does not today); a client that then sends the gs2 flag ``y``
    ("I support channel binding but think you do not") is being downgraded by a man in the
    middle, and RFC 5802 §6 requires failing (not-authorized).
    """

    username: str
    """SASLprepped (as a query) user name from client-first; "" until ``client_first`` ran."""
    authzid: str | None
    """Authorization identity from the gs2 header, unescaped; None if the client sent none."""
    authenticated: bool
    """True once ``client_final`` verified the proof."""

    def __init__(
        self,
        hash: ScramHash,
        *,
        nonce: str | None = None,
        channel_binding_offered: bool = False,
    ) -> None:
        if nonce is None:
            nonce = secrets.token_urlsafe(24)
        elif not nonce or not _is_printable(nonce):
            raise ValueError("SCRAM server nonce must be non-empty printable ASCII without ','")
        self.hash: Final = hash
        self.username = ""
        self.authzid = None
        self.authenticated = False
        self._server_nonce: Final = nonce
        self._channel_binding_offered: Final = channel_binding_offered
        self._state = _State.EXPECT_CLIENT_FIRST
        self._gs2_header = b""
        self._client_first_bare = ""
        self._nonce = ""
        self._auth_message_prefix = ""  # client-first-message-bare "," server-first-message
        self._creds: ScramCredentials | None = None

    def _begin(self, step: _Step) -> _State:
        """Check that ``step`` may run now; the server is FAILED until ``step`` completes."""
        next_state = _TRANSITIONS.get((self._state, step))
        self._state = _State.FAILED
        if next_state is None:
            raise _malformed("unexpected SCRAM message")
        return next_state

    def client_first(self, message: bytes) -> str:
        """Parse the client-first-message (the initial response of ``<auth/>``).

        Returns the SASLprepped user name (also in ``self.username``). Next: look up its
        credentials (or make ``dummy_credentials``), check ``self.authzid``, call
        ``server_first``.
        """
        next_state = self._begin(_Step.CLIENT_FIRST)
        text = _decode(message)
        fields = text.split(",", 2)
        if len(fields) != 3:
            raise _malformed("SCRAM gs2 header missing")
        cbind_flag, authzid_field, bare = fields

        if cbind_flag == "y":
            if self._channel_binding_offered:
                raise SaslFailure(_NOT_AUTHORIZED, "channel binding downgrade detected")
        elif cbind_flag.startswith("p="):
            raise _malformed("channel binding needs a SCRAM-*-PLUS mechanism, not offered")
        elif cbind_flag != "n":
            raise _malformed("bad SCRAM channel binding flag")

        if not authzid_field:
            authzid = None
        elif authzid_field.startswith("a="):
            authzid = _unescape_saslname(authzid_field[2:])
        else:
            raise _malformed("bad authzid in SCRAM gs2 header")

        attributes = bare.split(",")
        if attributes[0].startswith("m="):
            raise _malformed("SCRAM mandatory extensions are not supported")
        if len(attributes) < 2:
            raise _malformed("SCRAM client-first-message incomplete")
        username_field, nonce_field, *extensions = attributes
        if not username_field.startswith("n="):
            raise _malformed("SCRAM username missing")
        username_raw = _unescape_saslname(username_field[2:])
        if not nonce_field.startswith("r="):
            raise _malformed("SCRAM nonce missing")
        client_nonce = nonce_field[2:]
        if not client_nonce or not _is_printable(client_nonce):
            raise _malformed("bad SCRAM client nonce")
        _check_extensions(extensions)
        try:
            username = saslprep(username_raw, allow_unassigned=True)
        except ValueError:
            raise _malformed("SCRAM username refused by SASLprep") from None
        if not username:
            raise _malformed("SCRAM username empty after SASLprep")

        self.username = username
        self.authzid = authzid
        self._gs2_header = f"{cbind_flag},{authzid_field},".encode()
        self._client_first_bare = bare
        self._nonce = client_nonce + self._server_nonce
        self._state = next_state
        return username

    def server_first(self, creds: ScramCredentials) -> bytes:
        """Return the server-first-message (send it in ``<challenge/>``).

        ``creds`` are the user's stored credentials for this hash, or ``dummy_credentials`` for
        an unknown user. Next: wait for the client's ``<response/>`` and call ``client_final``.
        """
        if creds.hash is not self.hash:
            raise ValueError(f"credentials are for SCRAM-{creds.hash}, not SCRAM-{self.hash}")
        next_state = self._begin(_Step.SERVER_FIRST)
        salt = base64.b64encode(creds.salt).decode("ascii")
        message = f"r={self._nonce},s={salt},i={creds.iterations}"
        self._creds = creds
        self._auth_message_prefix = f"{self._client_first_bare},{message}"
        self._state = next_state
        return message.encode()

    def client_final(self, message: bytes) -> bytes:
        """Verify the client-final-message (from ``<response/>``).

        On success sets ``authenticated`` and returns the server-final-message ``v=...``: send
        it as the additional data of ``<success/>``. Otherwise raises ``SaslFailure``
        (not-authorized for a wrong password, unknown user, or replayed/tampered message).
        """
        next_state = self._begin(_Step.CLIENT_FINAL)
        creds = self._creds
        if creds is None:  # unreachable: the transition table guarantees server_first ran
            raise _malformed("unexpected SCRAM message")
        text = _decode(message)
        attributes = text.split(",")
        if len(attributes) < 3:
            raise _malformed("SCRAM client-final-message incomplete")
        cbind_field, nonce_field, *extensions, proof_field = attributes
        if not cbind_field.startswith("c="):
            raise _malformed("SCRAM channel binding missing")
        cbind_input = _b64decode(cbind_field[2:])
        if not nonce_field.startswith("r="):
            raise _malformed("SCRAM nonce missing")
        _check_extensions(extensions)
        if not proof_field.startswith("p="):
            raise _malformed("SCRAM proof missing")
        proof = _b64decode(proof_field[2:])
        without_proof = text[: len(text) - len(proof_field) - 1]

        if cbind_input != self._gs2_header:
            raise SaslFailure(_NOT_AUTHORIZED, "SCRAM channel binding does not match")
        if nonce_field[2:] != self._nonce:
            raise SaslFailure(_NOT_AUTHORIZED, "SCRAM nonce does not match")
        if len(proof) != creds.hash.digest_size:
            raise SaslFailure(_NOT_AUTHORIZED, "authentication failed")

        auth_message = f"{self._auth_message_prefix},{without_proof}".encode()
        client_signature = creds.hash.hmac(creds.stored_key, auth_message)
        client_key = bytes(p ^ s for p, s in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(creds.hash.digest(client_key), creds.stored_key):
            raise SaslFailure(_NOT_AUTHORIZED, "authentication failed")

        server_signature = creds.hash.hmac(creds.server_key, auth_message)
        self.authenticated = True
        self._state = next_state
        return b"v=" + base64.b64encode(server_signature)
