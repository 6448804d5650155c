"""SASL failure conditions (RFC 6120 §6.5) and the exception the mechanisms raise.  [pure]

A mechanism (``scram.ScramServer``, ``plain.parse_plain``) raises ``SaslFailure``; the stream
layer answers ``<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/><text>{text}
</text></failure>`` and lets the client retry or close. ``text`` is a fixed, human-readable
phrase: it never contains client input, passwords or keys, so it is safe to send and to log.
"""

from enum import StrEnum

__all__ = ["SaslCondition", "SaslFailure"]


class SaslCondition(StrEnum):
    """RFC 6120 §6.5 SASL failure conditions (element names in the xmpp-sasl namespace)."""

    ABORTED = "aborted"
    ACCOUNT_DISABLED = "account-disabled"
    CREDENTIALS_EXPIRED = "credentials-expired"
    ENCRYPTION_REQUIRED = "encryption-required"
    INCORRECT_ENCODING = "incorrect-encoding"
    INVALID_AUTHZID = "invalid-authzid"
    INVALID_MECHANISM = "invalid-mechanism"
    MALFORMED_REQUEST = "malformed-request"
    MECHANISM_TOO_WEAK = "mechanism-too-weak"
    NOT_AUTHORIZED = "not-authorized"
    TEMPORARY_AUTH_FAILURE = "temporary-auth-failure"


class SaslFailure(Exception):
    """The SASL exchange failed; answer ``<failure/>`` with ``condition`` and ``text``."""

    condition: SaslCondition
    text: str

    def __init__(self, condition: SaslCondition, text: str = "") -> None:
        super().__init__(f"{condition}: {text}" if text else str(condition))
        self.condition = condition
        self.text = text
