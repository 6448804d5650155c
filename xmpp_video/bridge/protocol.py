"""The JSON protocol of SPEC §5: client messages parsed into typed commands, server messages
built. Pure.

One JSON object per text frame, always with ``"type"``; a client may add ``"id"``, returned as
``"ref"`` on every reply or error it causes. `parse()` raises `ProtocolError` carrying the error
code to answer (and the ``ref`` when the message had a readable ``id``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

MAX_FIELD = 1024  # a call id, a user, a reason
MAX_SDP = 60_000  # an SDP blob (the frame limit, MAX_JSON_MESSAGE, bounds it too)


class ErrorCode(StrEnum):
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_JSON = "invalid_json"
    UNKNOWN_TYPE = "unknown_type"
    BAD_REQUEST = "bad_request"
    UNKNOWN_CALL = "unknown_call"
    NOT_ALLOWED = "not_allowed"
    USER_UNAVAILABLE = "user_unavailable"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, message: str, ref: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


class CallType(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


# -- client → server -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Auth:
    token: str


@dataclass(frozen=True, slots=True)
class CallInitiate:
    to: str
    call_type: CallType


@dataclass(frozen=True, slots=True)
class CallAccept:
    call_id: str


@dataclass(frozen=True, slots=True)
class CallReject:
    call_id: str
    reason: str  # decline | busy


@dataclass(frozen=True, slots=True)
class CallEnd:
    call_id: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class SdpOffer:
    call_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class SdpAnswer:
    call_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class Candidate:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True, slots=True)
class IceCandidate:
    call_id: str
    candidate: Candidate | None  # None: end of candidates


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Command = (
    Auth
    | CallInitiate
    | CallAccept
    | CallReject
    | CallEnd
    | SdpOffer
    | SdpAnswer
    | IceCandidate
    | Ping
)


def _string(
    fields: dict[str, Any],
    name: str,
    ref: object,
    *,
    limit: int = MAX_FIELD,
    optional: bool = False,
) -> str:
    value = fields.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"'{name}' must be a non-empty string (at most {limit})", ref
        )
    return value


def _candidate(value: object, ref: object) -> Candidate | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'candidate' must be an object or null", ref)
    line = value.get("candidate")
    mid = value.get("sdpMid")
    index = value.get("sdpMLineIndex")
    if not isinstance(line, str) or len(line) > MAX_FIELD:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'candidate.candidate' must be a string", ref)
    if mid is not None and (not isinstance(mid, str) or len(mid) > 64):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'candidate.sdpMid' must be a string", ref)
    if index is not None and (
        not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64
    ):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'candidate.sdpMLineIndex' must be 0-63", ref)
    if mid is None and index is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a candidate needs sdpMid or sdpMLineIndex", ref)
    if not line:
        return None  # an empty candidate line: end of candidates, as browsers send it
    return Candidate(line, mid, index)


def parse(text: str) -> tuple[Command, object]:
    """The command in one text frame and its ``id`` (to return as ``ref``), or ProtocolError."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message must be a JSON object")
    ref = value.get("id")
    if not isinstance(ref, (str, int, float)) or isinstance(ref, bool):
        ref = None
    if isinstance(ref, str) and len(ref) > MAX_FIELD:
        ref = None
    type_ = value.get("type")
    if not isinstance(type_, str):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "the message needs a string 'type'", ref)
    builder = _BUILDERS.get(type_)
    if builder is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {type_[:40]!r}", ref)
    return builder(value, ref), ref


def _auth(f: dict[str, Any], ref: object) -> Command:
    return Auth(_string(f, "token", ref, limit=8192))


def _call_initiate(f: dict[str, Any], ref: object) -> Command:
    call_type = f.get("call_type", "audio")
    if call_type not in ("audio", "video"):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'call_type' must be audio or video", ref)
    return CallInitiate(_string(f, "to", ref), CallType(call_type))


def _call_reject(f: dict[str, Any], ref: object) -> Command:
    reason = f.get("reason", "decline")
    if reason not in ("decline", "busy"):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'reason' must be decline or busy", ref)
    return CallReject(_string(f, "call_id", ref), reason)


def _call_end(f: dict[str, Any], ref: object) -> Command:
    reason = f.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'reason' must be a string", ref)
    return CallEnd(_string(f, "call_id", ref), reason)


_Builder = Callable[[dict[str, Any], object], Command]
_BUILDERS: Final[dict[str, _Builder]] = {
    "auth": _auth,
    "call_initiate": _call_initiate,
    "call_accept": lambda f, ref: CallAccept(_string(f, "call_id", ref)),
    "call_reject": _call_reject,
    "call_end": _call_end,
    "sdp_offer": lambda f, ref: SdpOffer(
        _string(f, "call_id", ref), _string(f, "sdp", ref, limit=MAX_SDP)
    ),
    "sdp_answer": lambda f, ref: SdpAnswer(
        _string(f, "call_id", ref), _string(f, "sdp", ref, limit=MAX_SDP)
    ),
    "ice_candidate": lambda f, ref: IceCandidate(
        _string(f, "call_id", ref), _candidate(f.get("candidate"), ref)
    ),
    "ping": lambda f, ref: Ping(),
}


# -- server → client -----------------------------------------------------------------------


def encode(type_: str, ref: object = None, **fields: object) -> str:
    """One server message (``ref`` only when the client's message had an ``id``)."""
    message: dict[str, object] = {"type": type_, **fields}
    if ref is not None:
        message["ref"] = ref
    return json.dumps(message, separators=(",", ":"))


def error(code: ErrorCode, message: str, ref: object = None) -> str:
    return encode("error", ref, code=code.value, message=message)
