"""The server context handed to transports and modules: one object, built by app.py.

Modules reach the router, the registry, hooks, IQ dispatch, disco and storage only through it;
there are no module-level singletons.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from xml.etree.ElementTree import Element

from xmpp_video.auth.tokens import TokenSigner
from xmpp_video.config import Settings
from xmpp_video.core.accounts import Accounts
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.registry import SessionRegistry
from xmpp_video.core.resumption import Resumption
from xmpp_video.core.router import Router
from xmpp_video.core.session import Session
from xmpp_video.core.tasks import TaskSet
from xmpp_video.jid import JID
from xmpp_video.storage.sql import Storage

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """disco#info of one node of the server (XEP-0030 §3.2): (category, type, name)s, features."""

    identities: tuple[tuple[str, str, str], ...]
    features: frozenset[str]


@dataclass(frozen=True, slots=True)
class NodeItem:
    """One disco#items entry: an item of the server at ``node``, with a human ``name``."""

    node: str
    name: str


class DiscoNodes(Protocol):
    """A module that owns some disco nodes of the server; the answer may depend on who asks.

    Both return None for a node that is not theirs, and may raise `StanzaError` (forbidden)."""

    def node_info(self, node: str, sender: JID) -> NodeInfo | None: ...

    def node_items(self, node: str, sender: JID) -> list[NodeItem] | None: ...


AccountItems = Callable[[JID, JID], Awaitable[list[Element]]]


@dataclass(slots=True)
class Disco:
    """What disco#info answers for the server and for accounts (XEP-0030)."""

    server_features: set[str] = field(default_factory=set)
    account_features: set[str] = field(default_factory=set)
    server_identities: list[tuple[str, str, str]] = field(
        default_factory=lambda: [("server", "im", "xmpp-video")]
    )
    extra_items: list[Element] = field(default_factory=list)
    nodes: list[DiscoNodes] = field(default_factory=list)  # asked in order for a `node`
    account_identities: list[tuple[str, str, str]] = field(
        default_factory=lambda: [("account", "registered", "")]
    )
    # disco#items of an account (e.g. its PEP nodes), asked in order once the requester may
    # look into the account at all: (account's bare JID, requester) → <item/> elements
    account_items: list[AccountItems] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PreAuthIq:
    """An iq a client sent before authenticating (XEP-0077 in-band registration), on an
    encrypted stream: c2s hands it to the handler of its payload in `Server.pre_auth_iqs`.

    ``peer``: the client's address as the transport names it (``transport`` ``"tcp"``:
    ``ip:port``, IPv6 without brackets; ``"websocket"``: ``ip``); ``reply`` writes a stanza
    (addressed by the handler, without ``to``) to that stream."""

    stanza: Element
    peer: str
    transport: str
    reply: Callable[[Element], None]


PreAuthIqHandler = Callable[[PreAuthIq], Awaitable[None] | None]


@dataclass(slots=True)
class Stats:
    """Counters read by /metrics; plain integers, cheap to bump on any path."""

    auth_failures: int = 0  # SASL and HTTP login failures
    http_responses: dict[int, int] = field(default_factory=dict)  # by status

    def http_response(self, status: int) -> None:
        self.http_responses[status] = self.http_responses.get(status, 0) + 1


class DeviceWaker(Protocol):
    """Wakes an account's devices that have no connection at all (XEP-0357 push), set as
    `Server.device_waker`: a call proposed to such an account keeps ringing until its timeout
    instead of ending at once for want of a device."""

    def has_registrations(self, bare: str) -> bool | None:
        """True when `bare` has devices to wake; None when not known yet (start-up)."""
        ...


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
    # before authentication, on encrypted streams only (XEP-0077): features offered next to
    # the SASL mechanisms, and handlers of iqs by payload tag (any other iq closes the stream)
    pre_auth_stream_features: list[Element] = field(default_factory=list)
    pre_auth_iqs: dict[str, PreAuthIqHandler] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    resumption: Resumption = field(default_factory=Resumption)  # XEP-0198 resumable sessions
    tokens: TokenSigner | None = None  # JWTs for the HTTP API and SASL OAUTHBEARER
    services: dict[type[Any], Any] = field(default_factory=dict)  # see provide() / require()
    device_waker: DeviceWaker | None = None  # XEP-0357 push, when its module is set up

    @property
    def domain(self) -> str:
        return self.settings.xmpp_domain

    def provide(self, kind: type[T], service: T) -> None:
        """Offer `service` to the modules set up after this one, keyed by its class (e.g. the
        ad-hoc command registry); a second provider of the same class is a programming error."""
        if kind in self.services:
            raise ValueError(f"{kind.__name__} is provided already")
        self.services[kind] = service

    def require(self, kind: type[T]) -> T:
        """The service of class `kind`; a module that needs it must be set up after its
        provider (module order in app.py), otherwise this raises LookupError saying so."""
        service = self.services.get(kind)
        if service is None:
            raise LookupError(f"no {kind.__name__}: set up the module providing it first")
        assert isinstance(service, kind)
        return service


class Module(Protocol):
    """A feature module: registers handlers and hooks in `setup`, releases them in `stop`."""

    name: str

    def setup(self, server: Server) -> None: ...

    def stop(self) -> Awaitable[None] | None: ...
