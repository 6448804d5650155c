"""What a JSON device is told when JMI messages and Jingle iqs reach it (SPEC §10). Pure.

The mapping, for a JSON device D of user U in call C with peer P:

| stanza reaching D                             | JSON message to D                            |
|-----------------------------------------------|----------------------------------------------|
| `propose` from P (live, not a stored replay)  | `call_incoming {from: bare P, call_type}`    |
| first `ringing` from P's devices (D called)   | `call_ringing`                               |
| `proceed` from a device of P                  | `call_accepted {by: bare P}`                 |
| `reject` from P, reason busy / other          | `call_rejected {reason: busy / decline}`     |
| `reject` from P, reason timeout / gone        | `call_ended timeout / unavailable`           |
| `reject` / `retract` / `finish` whose text is | `call_ended terminated_by_admin` /           |
|   `terminated_by_admin` or `server_shutdown`  |   `server_shutdown`                          |
| `retract` from P                              | `call_ended cancelled` (timeout: `timeout`)  |
| `accept` from another device of U             | `call_ended answered_elsewhere`              |
| `reject` from another device of U             | `call_ended rejected_elsewhere`              |
| `finish` or Jingle `session-terminate`        | `call_ended` with the reason mapped          |
"""

from __future__ import annotations

from typing import Final

# Jingle reason → call_ended reason (SPEC §10)
_ENDED: Final = {
    "success": "hangup",
    "gone": "hangup",
    "decline": "rejected_elsewhere",
    "busy": "busy",
    "timeout": "timeout",
    "expired": "timeout",
    "cancel": "cancelled",
    "connectivity-error": "failed",
    "failed-application": "failed",
    "failed-transport": "failed",
    "media-error": "failed",
    "general-error": "failed",
    "security-error": "failed",
    "incompatible-parameters": "failed",
    "unsupported-applications": "failed",
    "unsupported-transports": "failed",
}


def ended_reason(jingle_reason: str | None, *, text: str = "") -> str:
    """The ``call_ended`` reason for a session-terminate / finish reason. The server's own
    ends carry their cause in the text (``terminated_by_admin``, ``server_shutdown``)."""
    if text in ("terminated_by_admin", "server_shutdown"):
        return text
    return _ENDED.get(jingle_reason or "success", "hangup")


def reject_event(jingle_reason: str | None, *, text: str = "") -> tuple[str, str]:
    """(message type, reason) for a ``reject`` from the other party. The server's own ends
    (an admin, a shutdown) carry their cause in the text: ``call_ended`` with it."""
    if text in ("terminated_by_admin", "server_shutdown"):
        return "call_ended", text
    if jingle_reason == "busy":
        return "call_rejected", "busy"
    if jingle_reason in ("timeout", "expired"):
        return "call_ended", "timeout"
    if jingle_reason == "gone":
        return "call_ended", "unavailable"
    return "call_rejected", "decline"


def retract_reason(jingle_reason: str | None, *, text: str = "") -> str:
    """The ``call_ended`` reason for a ``retract`` from the caller."""
    if text in ("terminated_by_admin", "server_shutdown"):
        return text
    if jingle_reason in ("timeout", "expired"):
        return "timeout"
    return "cancelled"
