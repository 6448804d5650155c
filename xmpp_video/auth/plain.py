"""SASL PLAIN (RFC 4616) message parsing.  [pure]

``parse_plain(initial_response)`` splits the message; the caller then looks the user up, checks
the password with ``passwords.verify_password`` (which applies SASLprep to it) and checks the
authzid. PLAIN sends the password itself: offer it only on an encrypted stream
(otherwise ``encryption-required``), and answer an unknown user exactly like a wrong password
(``not-authorized``, ideally after a ``verify_password`` against dummy credentials so that the
timing matches too).
"""

from xmpp_video.auth.sasl_errors import SaslCondition, SaslFailure
from xmpp_video.auth.saslprep import saslprep

__all__ = ["parse_plain"]


def _malformed(text: str) -> SaslFailure:
    return SaslFailure(SaslCondition.MALFORMED_REQUEST, text)


def parse_plain(message: bytes) -> tuple[str | None, str, str]:
    """Return ``(authzid, authcid, password)`` from ``[authzid] NUL authcid NUL passwd``.

    ``authzid`` is None when empty and otherwise returned as sent. ``authcid`` is SASLprepped as
    a query (like ``ScramServer.username``, so both mechanisms look up the same name).
    ``password`` is returned as sent: ``verify_password`` prepares it.

    Raises ``SaslFailure(malformed-request)`` unless there are exactly two NULs, every part is
    UTF-8, and authcid and password are non-empty (authcid also after SASLprep).
    """
    parts = message.split(b"\0")
    if len(parts) != 3:
        raise _malformed("PLAIN message needs exactly two NUL separators")
    try:
        authzid, authcid_raw, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        raise _malformed("PLAIN message is not UTF-8") from None
    if not authcid_raw or not password:
        raise _malformed("PLAIN user name and password must not be empty")
    try:
        authcid = saslprep(authcid_raw, allow_unassigned=True)
    except ValueError:
        raise _malformed("PLAIN user name refused by SASLprep") from None
    if not authcid:
        raise _malformed("PLAIN user name empty after SASLprep")
    return authzid or None, authcid, password
