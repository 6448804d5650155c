"""Typed settings: TOML file, then environment overrides, then production checks.

Every setting has a config-file key (lower case) and an environment variable (upper case), as in
SPEC §3 and §10. `Settings.describe()` lists them for `xmpp-video check`.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from xmpp_video.jid import InvalidJID, prep_domain
from xmpp_video.turn_uris import InvalidTurnUri, parse_turn_uris

DEV_SECRET_MARK = "dev-"  # noqa: S105 - a prefix marking generated dev secrets
# XEP-0114 sends SHA-1(stream id + secret) in clear text: a short secret falls to an offline guess
MIN_COMPONENT_SECRET = 16


class ConfigError(Exception):
    """A setting is invalid; the message names it."""


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings. Field name in upper case is the environment variable."""

    xmpp_domain: str = _setting("localhost", "the XMPP domain this server hosts")
    data_dir: Path = _setting(Path("./var"), "SQLite file, generated dev certificate and secrets")
    database_url: str = _setting(
        "", "sqlite+aiosqlite:///… or postgresql+asyncpg://…; empty = SQLite file in DATA_DIR"
    )
    bind_host: str = _setting("0.0.0.0", "address the listeners bind to")  # noqa: S104
    c2s_port: int = _setting(5222, "client-to-server port (STARTTLS)")
    c2s_tls_port: int = _setting(5223, "client-to-server direct TLS port (XEP-0368); 0 = off")
    component_port: int = _setting(
        5347, "XEP-0114 component port; 0 = off (also off while COMPONENTS is empty)"
    )
    component_bind_host: str = _setting(
        "127.0.0.1",
        "address the XEP-0114 component listener binds to (plain TCP: keep it local or private)",
    )
    components: str = _setting(
        "",
        "XEP-0114 external components: comma-separated domain=secret pairs"
        " (gateway.example.com=a-long-secret)",
    )
    http_port: int = _setting(8080, "HTTP port")
    https_port: int = _setting(8443, "HTTPS port")
    tls_cert: str = _setting("", "PEM certificate chain; empty = self-signed one in DATA_DIR")
    tls_key: str = _setting("", "PEM private key matching TLS_CERT")
    require_tls: bool = _setting(True, "clients must encrypt (STARTTLS) before authenticating")
    jwt_secret: str = _setting("", "HS256 secret for JWTs; generated in DATA_DIR in dev mode")
    jwt_previous_secrets: str = _setting(
        "", "comma-separated former JWT secrets still accepted (rotation without logging out)"
    )
    access_token_ttl: int = _setting(900, "seconds an access token is valid")
    refresh_token_ttl: int = _setting(2592000, "seconds a refresh token is valid (30 days)")
    turn_secret: str = _setting("", "coturn static-auth-secret; generated in dev mode")
    turn_uris: str = _setting(
        "", "comma-separated stun:/stuns:/turn:/turns: URIs (RFC 7064/7065) handed to clients"
    )
    turn_ttl: int = _setting(86400, "seconds TURN credentials are valid")
    login_attempts_per_user: int = _setting(
        5, "failed HTTP logins per username per minute before 429"
    )
    login_attempts_per_address: int = _setting(
        30, "HTTP logins per client address per minute before 429"
    )
    ws_ping_interval: float = _setting(
        25.0, "seconds between WebSocket keepalive pings (below proxies' idle timeouts)"
    )
    max_http_body: int = _setting(16384, "bytes; a larger HTTP request body → 413")
    web_page: bool = _setting(
        True, "serve the call page at / (off: only /static/xmpp-video.js and the API)"
    )
    redis_url: str = _setting("", "Redis URL for clustering; empty = single node")
    workers: int = _setting(1, "worker processes sharing the listening sockets")
    admins: str = _setting("", "comma-separated bare JIDs allowed to run admin commands")
    adhoc_session_timeout: float = _setting(
        600.0, "seconds an unfinished ad-hoc command session (XEP-0050) is kept, then expires"
    )
    ring_timeout: int = _setting(45, "seconds before an unanswered call ends as timeout")
    max_stanza_size: int = _setting(262144, "bytes; larger stanza → <policy-violation/>, close")
    max_json_message: int = _setting(65536, "bytes; larger JSON frame → error too_large")
    json_messages_per_second: int = _setting(
        20, "JSON messages per second per connection; more → rate_limited, far more → close 4008"
    )
    max_depth: int = _setting(64, "maximum XML element nesting depth")
    shutdown_timeout: float = _setting(10.0, "seconds SIGTERM may take before exit (max 30)")
    auth_timeout: float = _setting(30.0, "seconds an unauthenticated connection may take to log in")
    sm_resumption_timeout: float = _setting(
        300.0,
        "seconds a session whose connection dropped stays resumable (XEP-0198), its resource,"
        " presence and queued stanzas kept; then they go to offline storage or bounce;"
        " 0 = no resumption",
    )
    sm_queue_limit: int = _setting(
        500,
        "unacknowledged stanzas kept per session (XEP-0198); more: a connected client is"
        " closed with <resource-constraint/>, a hibernating session ends",
    )
    sm_ack_every: int = _setting(
        5, "unacknowledged stanzas after which the server asks for an ack (<r/>); else after 1 s"
    )
    csi_queue_limit: int = _setting(
        500, "presence and chat-state updates held per inactive client (XEP-0352), per contact"
    )
    keepalive_interval: float = _setting(
        120.0, "seconds a bound client may stay silent before an XEP-0199 ping; 0 = off"
    )
    keepalive_timeout: float = _setting(
        30.0, "seconds a pinged client has to send anything before it is disconnected"
    )
    trusted_proxies: str = _setting("", "addresses of TLS-terminating proxies")
    scram_iterations: int = _setting(4096, "PBKDF2 iterations for newly stored SCRAM keys")
    offline_limit: int = _setting(1000, "messages kept offline per user; more → bounced")
    archive: bool = _setting(
        True,
        "keep chat messages and call signals in each account's archive (XEP-0313 MAM);"
        " false: nothing archived, MAM not offered",
    )
    blocklist_limit: int = _setting(
        1000, "JIDs one user may block (XEP-0191); a block beyond → not-acceptable"
    )
    vcard_max_size: int = _setting(
        131072, "bytes of one user's vCard-temp (XEP-0054); larger → not-acceptable"
    )
    registration: bool = _setting(
        False, "in-band account creation (XEP-0077) for clients on encrypted streams"
    )
    registrations_per_address: int = _setting(
        5, "in-band registration attempts per client address (IPv6: per /64) per hour"
    )
    min_password_length: int = _setting(
        8, "characters; shorter passwords are refused by in-band registration and change"
    )
    fast_token_ttl: int = _setting(
        1209600,
        "seconds a FAST token (XEP-0484, SASL2 one-round-trip login) is valid (14 days); rotated"
        " after half of it; 0 = FAST off",
    )
    node_id: str = _setting("", "this node's id in user_session; empty = hostname:port")
    log_level: str = _setting("INFO", "DEBUG, INFO, WARNING or ERROR")
    production: bool = _setting(False, "refuse default or missing secrets (also XMPP_VIDEO_ENV)")
    pep_max_items: int = _setting(
        64, "items one PEP node (XEP-0163) may keep; pubsub#max_items 'max' means this"
    )
    pep_max_item_size: int = _setting(
        131072, "bytes of one PEP item's payload; larger → not-acceptable (payload-too-big)"
    )
    pep_max_nodes: int = _setting(
        256, "PEP nodes one account may have; one more → not-allowed (max-nodes-exceeded)"
    )
    pep_caps_cache_size: int = _setting(
        4096, "verified entity capabilities (XEP-0115) kept in memory for +notify filtering"
    )
    pep_caps_timeout: float = _setting(
        10.0, "seconds a client has to answer the server's disco#info about its caps"
    )
    push_timeout: float = _setting(
        10.0, "seconds a push app server (XEP-0357) has to answer a publish; then it failed"
    )
    push_max_errors: int = _setting(
        5, "failed publishes in a row after which a push registration is disabled (removed)"
    )
    push_coalesce_window: float = _setting(
        2.0,
        "seconds: messages for a device notified less than this ago wait and go as one"
        " notification (count kept) at the end of it; calls are never delayed; 0 = no wait",
    )
    push_max_pending: int = _setting(
        1000, "publishes awaiting their app server's answer at once; more are skipped"
    )
    push_max_registrations: int = _setting(
        10, "push registrations one account may have; one more → resource-constraint"
    )

    @property
    def admin_jids(self) -> frozenset[str]:
        return frozenset(a.strip().lower() for a in self.admins.split(",") if a.strip())

    @property
    def jwt_secrets(self) -> tuple[str, ...]:
        """The signing secret first, then former ones still accepted."""
        former = (x.strip() for x in self.jwt_previous_secrets.split(","))
        return (self.jwt_secret, *(x for x in former if x))

    @property
    def turn_uri_list(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in self.turn_uris.split(",") if u.strip())

    @property
    def component_secrets(self) -> dict[str, str]:
        """XEP-0114 components: prepared domain → shared secret (validated at load time)."""
        return parse_components(self.components)

    @property
    def trusted_proxy_addresses(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.trusted_proxies.split(",") if a.strip())

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'xmpp_video.sqlite3'}"

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(ENV NAME, default, doc) for every setting."""
        return [
            (f.name.upper(), str(f.default), str(f.metadata["doc"]))
            for f in dataclasses.fields(cls)
        ]


def parse_components(text: str) -> dict[str, str]:
    """``domain=secret, …`` (COMPONENTS) → {prepared domain: secret}. Raises ConfigError naming
    the variable and the domain, never the secret. A secret may contain ``=`` but not ``,``."""
    components: dict[str, str] = {}
    for number, item in enumerate(text.split(","), 1):
        if not item.strip():
            continue
        name, equals, secret = item.partition("=")
        if not equals:
            # not echoed: it may be the end of a secret that contained a comma
            raise ConfigError(f"COMPONENTS: item {number} is not domain=secret")
        try:
            domain = prep_domain(name.strip())
        except InvalidJID:
            raise ConfigError(f"COMPONENTS: item {number} does not start with a domain") from None
        if not secret.strip():
            raise ConfigError(f"COMPONENTS: {domain} has no secret (write {domain}=SECRET)")
        if domain in components:
            raise ConfigError(f"COMPONENTS: {domain} is listed twice")
        components[domain] = secret.strip()
    return components


def _weak_component_secret(secret: str) -> bool:
    return (
        secret.startswith(DEV_SECRET_MARK)
        or secret.lower() in ("changeme", "secret", "password")
        or len(secret) < MIN_COMPONENT_SECRET
    )


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            value = str(raw).strip().lower()
            if value in ("1", "true", "yes", "on"):
                return True
            if value in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is Path:
            return Path(str(raw))
        if kind is int and isinstance(raw, bool):
            raise ValueError(raw)
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name.upper()}: invalid value {raw!r}") from None


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    production: bool | None = None,
) -> Settings:
    """Read the TOML file (if any), apply environment overrides and validate."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path}: {exc}") from None
        section = data.get("xmpp_video", data)
        values.update(section)
    hints = get_type_hints(Settings)
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
    for name in known:
        if name.upper() in env:
            values[name] = env[name.upper()]
    if env.get("XMPP_VIDEO_ENV", "").lower() == "production":
        values["production"] = True
    if production:
        values["production"] = True
    coerced = {name: _coerce(name, hints[name], raw) for name, raw in values.items()}
    settings = Settings(**coerced)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    for port_name in ("c2s_port", "c2s_tls_port", "component_port", "http_port", "https_port"):
        port = getattr(s, port_name)
        if not 0 <= port <= 65535:
            raise ConfigError(f"{port_name.upper()}: {port} is not a port number")
    if not 0 < s.shutdown_timeout <= 30:
        raise ConfigError("SHUTDOWN_TIMEOUT: must be more than 0 and at most 30 seconds")
    if s.max_stanza_size < 1024:
        raise ConfigError("MAX_STANZA_SIZE: must be at least 1024 bytes")
    for name in ("access_token_ttl", "refresh_token_ttl", "turn_ttl", "max_http_body"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name.upper()}: must be positive")
    for name in (
        "login_attempts_per_user",
        "login_attempts_per_address",
        "json_messages_per_second",
        "blocklist_limit",
        "registrations_per_address",
        "min_password_length",
    ):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name.upper()}: must be at least 1")
    try:
        parse_turn_uris(s.turn_uri_list)
    except InvalidTurnUri as exc:
        raise ConfigError(f"TURN_URIS: {exc}") from None
    if s.ws_ping_interval <= 0:
        raise ConfigError("WS_PING_INTERVAL: must be positive")
    if s.vcard_max_size < 1024:
        raise ConfigError("VCARD_MAX_SIZE: must be at least 1024 bytes")
    if s.adhoc_session_timeout <= 0:
        raise ConfigError("ADHOC_SESSION_TIMEOUT: must be positive")
    if s.workers < 1:
        raise ConfigError("WORKERS: must be at least 1")
    for name in (
        "sm_resumption_timeout",
        "keepalive_interval",
        "csi_queue_limit",
        "fast_token_ttl",
    ):
        if getattr(s, name) < 0:
            raise ConfigError(f"{name.upper()}: must not be negative")
    for name in ("sm_queue_limit", "sm_ack_every"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name.upper()}: must be at least 1")
    if s.keepalive_timeout <= 0:
        raise ConfigError("KEEPALIVE_TIMEOUT: must be positive")
    for name in ("pep_max_items", "pep_max_nodes", "pep_caps_cache_size"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name.upper()}: must be at least 1")
    if s.pep_max_item_size < 1024:
        raise ConfigError("PEP_MAX_ITEM_SIZE: must be at least 1024 bytes")
    if s.pep_caps_timeout <= 0:
        raise ConfigError("PEP_CAPS_TIMEOUT: must be positive")
    for name in ("push_max_errors", "push_max_pending", "push_max_registrations"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name.upper()}: must be at least 1")
    if s.push_timeout <= 0:
        raise ConfigError("PUSH_TIMEOUT: must be positive")
    if s.push_coalesce_window < 0:
        raise ConfigError("PUSH_COALESCE_WINDOW: must not be negative")
    for secret in s.jwt_secrets:
        if secret and len(secret.encode()) < 32:
            raise ConfigError("JWT_SECRET: secrets must be at least 32 bytes long")
    if s.production:
        for name in ("jwt_secret", "turn_secret"):
            value: str = getattr(s, name)
            if not value or value.startswith(DEV_SECRET_MARK) or value in ("changeme", "secret"):
                raise ConfigError(f"{name.upper()}: missing or default secret in production mode")
    components = parse_components(s.components)
    if s.xmpp_domain.lower() in components:
        raise ConfigError(f"COMPONENTS: {s.xmpp_domain} is the server's own domain")
    if s.production:
        for domain, secret in components.items():
            if _weak_component_secret(secret):
                raise ConfigError(
                    f"COMPONENTS: the secret of {domain} is a default or shorter than"
                    f" {MIN_COMPONENT_SECRET} characters, refused in production mode"
                )
    for url_name in ("database_url",):
        url: str = getattr(s, url_name)
        if url and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ConfigError(
                f"{url_name.upper()}: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )


def with_dev_secrets(s: Settings) -> Settings:
    """Fill missing secrets from DATA_DIR/secrets.toml (generated once) in development mode."""
    if s.production or (s.jwt_secret and s.turn_secret):
        return s
    path = s.data_dir / "secrets.toml"
    stored: dict[str, Any] = {}
    if path.exists():
        stored = tomllib.loads(path.read_text(encoding="utf-8"))
    changed = False
    for name in ("jwt_secret", "turn_secret"):
        if not stored.get(name):
            stored[name] = DEV_SECRET_MARK + secrets.token_urlsafe(32)
            changed = True
    if changed:
        s.data_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(f'{k} = "{v}"\n' for k, v in sorted(stored.items()))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    return dataclasses.replace(
        s,
        jwt_secret=s.jwt_secret or str(stored["jwt_secret"]),
        turn_secret=s.turn_secret or str(stored["turn_secret"]),
    )
