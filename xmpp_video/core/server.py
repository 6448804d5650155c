"""The server context handed to transports and modules: one object, built by app.py.

Modules reach the router, the registry, hooks, IQ dispatch, disco and storage only through it;
there are no module-level singletons.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol
from xml.etree.ElementTree import Element

from xmpp_video.auth.tokens import TokenSigner
from xmpp_video.config import Settings
from xmpp_video.core.accounts import Accounts
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.registry import SessionRegistry
from xmpp_video.core.router import Router
from xmpp_video.core.session import Session
from xmpp_video.core.tasks import TaskSet
from xmpp_video.storage.sql import Storage


@dataclass(slots=True)
class Disco:
    """What disco#info answers for the server and for accounts (XEP-0030)."""

    server_features: set[str] = field(default_factory=set)
    account_features: set[str] = field(default_factory=set)
    server_identities: list[tuple[str, str, str]] = field(
        default_factory=lambda: [("server", "im", "xmpp-video")]
    )
    extra_items: list[Element] = field(default_factory=list)


@dataclass(slots=True)
class Stats:
    """Counters read by /metrics; plain integers, cheap to bump on any path."""

    auth_failures: int = 0  # SASL and HTTP login failures
    http_responses: dict[int, int] = field(default_factory=dict)  # by status

    def http_response(self, status: int) -> None:
        self.http_responses[status] = self.http_responses.get(status, 0) + 1


@dataclass(slots=True)
class Server:
    settings: Settings
    node_id: str
    storage: Storage
    accounts: Accounts
    hooks: Hooks
    iq: IqDispatcher
    registry: SessionRegistry
    router: Router
    tasks: TaskSet
    ssl_context: ssl.SSLContext | None
    disco: Disco = field(default_factory=Disco)
    connections: set[Session] = field(default_factory=set)
    stream_features: list[Element] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    tokens: TokenSigner | None = None  # JWTs for the HTTP API and SASL OAUTHBEARER

    @property
    def domain(self) -> str:
        return self.settings.xmpp_domain


class Module(Protocol):
    """A feature module: registers handlers and hooks in `setup`, releases them in `stop`."""

    name: str

    def setup(self, server: Server) -> None: ...

    def stop(self) -> Awaitable[None] | None: ...
