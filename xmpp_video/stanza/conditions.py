"""Error conditions of RFC 6120: stream errors (§4.9.3) and stanza errors (§8.3.3)."""

from enum import StrEnum


class StreamErrorCondition(StrEnum):
    """RFC 6120 §4.9.3 stream error conditions (element names in the xmpp-streams namespace)."""

    BAD_FORMAT = "bad-format"
    BAD_NAMESPACE_PREFIX = "bad-namespace-prefix"
    CONFLICT = "conflict"
    CONNECTION_TIMEOUT = "connection-timeout"
    HOST_GONE = "host-gone"
    HOST_UNKNOWN = "host-unknown"
    IMPROPER_ADDRESSING = "improper-addressing"
    INTERNAL_SERVER_ERROR = "internal-server-error"
    INVALID_FROM = "invalid-from"
    INVALID_NAMESPACE = "invalid-namespace"
    INVALID_XML = "invalid-xml"
    NOT_AUTHORIZED = "not-authorized"
    NOT_WELL_FORMED = "not-well-formed"
    POLICY_VIOLATION = "policy-violation"
    REMOTE_CONNECTION_FAILED = "remote-connection-failed"
    RESET = "reset"
    RESOURCE_CONSTRAINT = "resource-constraint"
    RESTRICTED_XML = "restricted-xml"
    SEE_OTHER_HOST = "see-other-host"
    SYSTEM_SHUTDOWN = "system-shutdown"
    UNDEFINED_CONDITION = "undefined-condition"
    UNSUPPORTED_ENCODING = "unsupported-encoding"
    UNSUPPORTED_FEATURE = "unsupported-feature"
    UNSUPPORTED_STANZA_TYPE = "unsupported-stanza-type"
    UNSUPPORTED_VERSION = "unsupported-version"


class StanzaErrorType(StrEnum):
    """RFC 6120 §8.3.2 error types."""

    AUTH = "auth"
    CANCEL = "cancel"
    CONTINUE = "continue"
    MODIFY = "modify"
    WAIT = "wait"


class StanzaErrorCondition(StrEnum):
    """RFC 6120 §8.3.3 stanza error conditions, each with its usual error type."""

    BAD_REQUEST = "bad-request"
    CONFLICT = "conflict"
    FEATURE_NOT_IMPLEMENTED = "feature-not-implemented"
    FORBIDDEN = "forbidden"
    GONE = "gone"
    INTERNAL_SERVER_ERROR = "internal-server-error"
    ITEM_NOT_FOUND = "item-not-found"
    JID_MALFORMED = "jid-malformed"
    NOT_ACCEPTABLE = "not-acceptable"
    NOT_ALLOWED = "not-allowed"
    NOT_AUTHORIZED = "not-authorized"
    POLICY_VIOLATION = "policy-violation"
    RECIPIENT_UNAVAILABLE = "recipient-unavailable"
    REDIRECT = "redirect"
    REGISTRATION_REQUIRED = "registration-required"
    REMOTE_SERVER_NOT_FOUND = "remote-server-not-found"
    REMOTE_SERVER_TIMEOUT = "remote-server-timeout"
    RESOURCE_CONSTRAINT = "resource-constraint"
    SERVICE_UNAVAILABLE = "service-unavailable"
    SUBSCRIPTION_REQUIRED = "subscription-required"
    UNDEFINED_CONDITION = "undefined-condition"
    UNEXPECTED_REQUEST = "unexpected-request"

    @property
    def default_type(self) -> StanzaErrorType:
        return _DEFAULT_TYPES.get(self, StanzaErrorType.CANCEL)


_DEFAULT_TYPES: dict[StanzaErrorCondition, StanzaErrorType] = {
    StanzaErrorCondition.BAD_REQUEST: StanzaErrorType.MODIFY,
    StanzaErrorCondition.JID_MALFORMED: StanzaErrorType.MODIFY,
    StanzaErrorCondition.NOT_ACCEPTABLE: StanzaErrorType.MODIFY,
    StanzaErrorCondition.POLICY_VIOLATION: StanzaErrorType.MODIFY,
    StanzaErrorCondition.FORBIDDEN: StanzaErrorType.AUTH,
    StanzaErrorCondition.NOT_AUTHORIZED: StanzaErrorType.AUTH,
    StanzaErrorCondition.REGISTRATION_REQUIRED: StanzaErrorType.AUTH,
    StanzaErrorCondition.SUBSCRIPTION_REQUIRED: StanzaErrorType.AUTH,
    StanzaErrorCondition.RECIPIENT_UNAVAILABLE: StanzaErrorType.WAIT,
    StanzaErrorCondition.RESOURCE_CONSTRAINT: StanzaErrorType.WAIT,
    StanzaErrorCondition.REMOTE_SERVER_TIMEOUT: StanzaErrorType.WAIT,
    StanzaErrorCondition.UNEXPECTED_REQUEST: StanzaErrorType.WAIT,
}
