"""HTTP requests and responses as the handlers see them, and the JSON error shape of SPEC §4.

Every error body is ``{"error": "<code>", "message": "<human text>"}``; a handler raises
`HttpError` and the dispatcher turns it into that response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Request:
    """One complete request. Header names are lower case; repeated headers are joined by ", ".

    ``client``: the client's address (from ``X-Forwarded-For`` when the peer is a trusted proxy).
    ``secure``: the request came over TLS (or over plain HTTP from a trusted TLS proxy).
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    client: str
    secure: bool

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, if any."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()


class HttpError(Exception):
    """Raised by a handler: answered as the SPEC §4 JSON error with this status."""

    def __init__(
        self, status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def response(self) -> Response:
        return json_error(self.status, self.code, self.message, self.headers)


def json_response(
    status: int, value: Mapping[str, Any], headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    return Response(status, json.dumps(value, separators=(",", ":")).encode(), JSON_TYPE, headers)


def json_error(
    status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    return json_response(status, {"error": code, "message": message}, headers)


def json_body(request: Request, *fields: str) -> dict[str, str]:
    """The request's JSON object with these string fields, or an `HttpError` saying what is
    wrong: 415 for another content type, 400 for malformed JSON, a non-object, a missing or
    non-string field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON_TYPE:
        raise HttpError(415, "unsupported_media_type", "send the body as application/json")
    try:
        value = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HttpError(400, "bad_request", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise HttpError(400, "bad_request", "the body must be a JSON object")
    out: dict[str, str] = {}
    for name in fields:
        field = value.get(name)
        if not isinstance(field, str) or not field:
            raise HttpError(400, "bad_request", f"missing or invalid field: {name}")
        out[name] = field
    return out
