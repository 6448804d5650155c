"""``xmpp-video calls list|terminate|stats``: asks a *running* server, over its HTTP admin API.

Live calls exist only in the server process, so these commands cannot work on the database the
way ``user`` commands do. Each one mints a one-minute admin JWT (``typ: admin``) with the
``JWT_SECRET`` of the same configuration the server reads (in development: the secret generated
in ``DATA_DIR``), and sends it to ``http://127.0.0.1:HTTP_PORT`` (the ``BIND_HOST`` when it names
one address), or to ``--url``. See http/admin_api.py for the endpoints.

Errors (no server, a refused token, an unknown call, a bad period) are one line on stderr and
exit status 1, like every other command.
"""

from __future__ import annotations

import getpass
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from xmpp_video.auth.tokens import TokenSigner
from xmpp_video.cli.errors import CliError
from xmpp_video.config import Settings, with_dev_secrets

TIMEOUT_SECONDS = 10.0
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared with, never bound


def server_url(settings: Settings, given: str | None) -> str:
    """Where the server's HTTP listener is: ``given``, or HTTP_PORT on this machine."""
    if given:
        return given.rstrip("/")
    if settings.http_port == 0:
        raise CliError("HTTP_PORT is 0 (HTTP is off): give the server's address with --url")
    host = settings.bind_host
    if host in _WILDCARDS:
        host = "::1" if host == "::" else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}"


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name for this uid
        return "cli"


def admin_token(settings: Settings) -> str:
    s = with_dev_secrets(settings)
    try:
        signer = TokenSigner(s.jwt_secrets, s.access_token_ttl, s.refresh_token_ttl)
    except ValueError as exc:
        raise CliError(f"JWT_SECRET: {exc}") from None
    token, _ = signer.issue_admin(_operator())
    return token


def _call(settings: Settings, url: str, method: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - http(s) URL built above or given by the operator
        url + path,
        method=method,
        headers={"Authorization": f"Bearer {admin_token(settings)}", "Accept": "application/json"},
    )
    if not request.full_url.startswith(("http://", "https://")):
        raise CliError(f"--url must start with http:// or https://, not {url!r}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as exc:
        raise _http_error(exc) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        why = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise CliError(
            f"no xmpp-video server answers at {url} ({why}): is it running? (or give --url)"
        ) from None
    except TimeoutError:
        raise CliError(f"the server at {url} did not answer within {TIMEOUT_SECONDS:g} s") from None
    except json.JSONDecodeError:
        raise CliError(f"{url} did not answer with JSON: is it an xmpp-video server?") from None


def _http_error(exc: urllib.error.HTTPError) -> CliError:
    try:
        body = json.loads(exc.read())
        code, message = str(body["error"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        return CliError(f"the server answered HTTP {exc.code}")
    if exc.code == 401:
        return CliError(
            f"the server refused the admin token ({message}): this configuration's JWT_SECRET "
            "(or DATA_DIR, in development) must be the server's"
        )
    if code == "not_found":
        return CliError("this server has no admin API (an older version?)")
    return CliError(message)


def calls_list(settings: Settings, url: str | None, as_json: bool) -> int:
    base = server_url(settings, url)
    calls: list[dict[str, Any]] = _call(settings, base, "GET", "/api/admin/calls")["calls"]
    if as_json:
        print(json.dumps(calls, indent=2))
        return 0
    if not calls:
        print("no active calls")
        return 0
    print(f"{'CALL':<38} {'STATE':<9} {'SINCE':<21} CALLER → CALLEE (DEVICES)")
    for call in calls:
        devices = ", ".join(call["devices"]) or "-"
        print(
            f"{call['call_id']:<38} {call['state']:<9} {call['since']:<21} "
            f"{call['caller_device']} → {call['callee']} ({devices})"
        )
    return 0


def calls_terminate(settings: Settings, url: str | None, call_id: str) -> int:
    base = server_url(settings, url)
    answer = _call(settings, base, "DELETE", "/api/admin/calls/" + quote(call_id, safe=""))
    print(f"call {answer['call_id']} ended (ended_by {answer['ended_by']})")
    return 0


def _seconds(value: object) -> str:
    return f"{value:.3f} s" if isinstance(value, int | float) else "n/a"


def calls_stats(
    settings: Settings,
    url: str | None,
    *,
    hours: int | None,
    start: str | None,
    end: str | None,
    as_json: bool,
) -> int:
    query = {k: v for k, v in (("hours", hours), ("start", start), ("end", end)) if v is not None}
    path = "/api/admin/calls/stats" + (f"?{urlencode(query)}" if query else "")
    stats = _call(settings, server_url(settings, url), "GET", path)
    if as_json:
        print(json.dumps(stats, indent=2))
        return 0
    rate = stats["answer_rate"]
    outcomes = ", ".join(f"{k} {v}" for k, v in stats["outcomes"].items() if v) or "-"
    answer, setup = stats["answer_time"], stats["setup_time"]
    answer_mean, answer_p95 = _seconds(answer["mean_seconds"]), _seconds(answer["p95_seconds"])
    setup_mean, setup_p95 = _seconds(setup["mean_seconds"]), _seconds(setup["p95_seconds"])
    print(f"period       {stats['start']} → {stats['end']}")
    print(f"calls        {stats['total']} (answered {stats['answered']}, live {stats['live']})")
    print(f"answer rate  {'n/a' if rate is None else f'{rate * 100:.1f} %'}")
    print(f"outcomes     {outcomes}")
    print(f"answer time  mean {answer_mean}, p95 {answer_p95}")
    print(f"setup time   mean {setup_mean}, p95 {setup_p95}")
    return 0
