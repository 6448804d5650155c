"""Composition root: settings → objects, start and stop order, signals. No singletons.

Start: database (migrated), modules, listeners. Stop (SIGTERM/SIGINT), in order, bounded by
SHUTDOWN_TIMEOUT: stop accepting → `<system-shutdown/>` to every stream, end hibernating
(XEP-0198) sessions → wait for the connections to go → finish background work (presence,
session rows, offline storage) → close the database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import time
from dataclasses import dataclass, field

from xmpp_video.auth.tokens import TokenSigner
from xmpp_video.calls.manager import CallManager
from xmpp_video.config import Settings, with_dev_secrets
from xmpp_video.core import compactor
from xmpp_video.core.accounts import Accounts
from xmpp_video.core.components import ComponentsModule
from xmpp_video.core.heap_trim import HeapTrimmer
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.keepalive import Keepalive
from xmpp_video.core.registry import LocalRegistry
from xmpp_video.core.router import Router
from xmpp_video.core.server import Module, Server
from xmpp_video.core.tasks import TaskSet
from xmpp_video.http.api import build_routes
from xmpp_video.modules.adhoc import AdhocModule
from xmpp_video.modules.admin.calls import CallAdminModule
from xmpp_video.modules.admin.users import UserAdminModule
from xmpp_video.modules.blocking import BlockingModule
from xmpp_video.modules.carbons import CarbonsModule
from xmpp_video.modules.disco import DiscoModule
from xmpp_video.modules.external_services import ExternalServicesModule
from xmpp_video.modules.legacy_session import LegacySessionModule
from xmpp_video.modules.mam import MamModule
from xmpp_video.modules.offline import OfflineModule
from xmpp_video.modules.pep import PepModule
from xmpp_video.modules.ping import PingModule
from xmpp_video.modules.presence import PresenceModule
from xmpp_video.modules.push import PushModule
from xmpp_video.modules.register import RegisterModule
from xmpp_video.modules.roster import RosterModule
from xmpp_video.modules.server_caps import ServerCapsModule
from xmpp_video.modules.session_store import SessionStoreModule
from xmpp_video.modules.vcard import VCardModule
from xmpp_video.modules.version import VersionModule
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.storage.migrate import current, head, upgrade
from xmpp_video.storage.sql import Storage, open_storage
from xmpp_video.transport.component import start_components
from xmpp_video.transport.http import HttpService
from xmpp_video.transport.tcp import start_c2s
from xmpp_video.transport.tls import server_context

log = logging.getLogger(__name__)
GC_THRESHOLD_0 = 50_000


class StartupError(Exception):
    """The server cannot start; the message says why in one line."""


@dataclass(slots=True)
class Listeners:
    servers: list[asyncio.Server] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)


async def prepare_database(settings: Settings) -> None:
    """Migrate the embedded SQLite database; refuse an out-of-date PostgreSQL schema."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(upgrade, url)
        return
    revision = await asyncio.to_thread(current, url)
    if revision != head():
        raise StartupError(
            f"database schema is at {revision or 'nothing'}, this server needs {head()}:"
            " run `xmpp-video db upgrade` first"
        )


class App:
    def __init__(self, settings: Settings, *, ephemeral_ports: bool = False) -> None:
        """`ephemeral_ports`: bind every listener on a free port (tests), see `listeners.ports`."""
        self.settings = with_dev_secrets(settings)
        self.ephemeral_ports = ephemeral_ports
        self.server: Server | None = None
        self.listeners = Listeners()
        self.modules: list[Module] = []
        self._session_store = SessionStoreModule()
        self.calls = CallManager()
        self._storage: Storage | None = None
        self._compactor: compactor.Compactor | None = None
        self._keepalive: Keepalive | None = None
        self._heap_trimmer: HeapTrimmer | None = None
        self.http: HttpService | None = None

    async def start(self) -> None:
        """Start everything; if any part fails, what was started is released again."""
        try:
            await self._start()
        except BaseException:
            for listener in self.listeners.servers:
                listener.close()
            await self.release()
            raise

    async def _start(self) -> None:
        s = self.settings
        await prepare_database(s)
        storage = await open_storage(s.effective_database_url)
        self._storage = storage
        hooks, iq, registry = Hooks(), IqDispatcher(), LocalRegistry()
        accounts = Accounts(storage.users, s.xmpp_domain, s.scram_iterations)
        router = Router(
            s.xmpp_domain, registry, iq, hooks, lambda bare: accounts.exists(bare.partition("@")[0])
        )
        node_id = s.node_id or f"{socket.gethostname()}:{s.c2s_port}"
        self.server = server = Server(
            settings=s,
            node_id=node_id,
            storage=storage,
            accounts=accounts,
            hooks=hooks,
            iq=iq,
            registry=registry,
            router=router,
            tasks=TaskSet(),
            ssl_context=server_context(s, alpn=["xmpp-client"]),
            tokens=TokenSigner(s.jwt_secrets, s.access_token_ttl, s.refresh_token_ttl),
        )
        roster = RosterModule()
        blocking = BlockingModule(roster)
        self.modules = [
            roster,
            PresenceModule(roster),
            PepModule(roster),  # after presence: an available presence is broadcast first
            blocking,  # after presence: its SessionClosed handler runs first
            VCardModule(),
            RegisterModule(roster),
            OfflineModule(),
            MamModule(),
            DiscoModule(),
            PingModule(),
            ExternalServicesModule(),
            VersionModule(),
            LegacySessionModule(),
            self._session_store,
            CarbonsModule(),
            PushModule(),  # XEP-0357: observes routed messages after carbons
            self.calls,
            AdhocModule(),  # provides the CommandRegistry the admin modules register with
            UserAdminModule(),
            CallAdminModule(self.calls),
            ComponentsModule(),  # XEP-0114: routes for the COMPONENTS domains
            ServerCapsModule(),  # last: its XEP-0115 hash covers every server feature
        ]
        for module in self.modules:
            module.setup(server)
        await blocking.start()
        await self._session_store.start()
        await self.calls.start()
        await self._listen(server)
        self._compactor = compactor.Compactor(server, compactor.PERIOD_SECONDS)
        self._compactor.start()
        self._heap_trimmer = HeapTrimmer(server.connections)
        self._heap_trimmer.start()
        if s.keepalive_interval > 0:
            self._keepalive = Keepalive(server, s.keepalive_interval, s.keepalive_timeout)
            self._keepalive.start()
        log.info(
            "xmpp-video serving %s on %s (node %s)",
            s.xmpp_domain,
            ", ".join(f"{k}={v}" for k, v in self.listeners.ports.items()),
            node_id,
        )

    async def _listen(self, server: Server) -> None:
        s = self.settings
        assert server.tokens is not None
        routes = build_routes(
            server,
            server.tokens,
            self.calls,
            lambda: (self.listeners.ports.get("http", 0), self.listeners.ports.get("https", 0)),
        )
        self.http = http = HttpService(server, routes, server_context(s, alpn=["http/1.1"]))
        for name, port, tls in (
            ("c2s", s.c2s_port, False),
            ("c2s_tls", s.c2s_tls_port, True),
            ("http", s.http_port, False),
            ("https", s.https_port, True),
            ("component", s.component_port if s.component_secrets else 0, False),
        ):
            if self.ephemeral_ports:
                port = 0
            elif port == 0:
                continue  # 0 = this listener is off
            # SO_REUSEPORT only for worker processes: a second server started by mistake
            # must fail with "address in use", not silently share the port
            reuse_port = s.workers > 1
            host = s.component_bind_host if name == "component" else s.bind_host
            try:
                if name.startswith("http"):
                    listener = await http.listen(host, port, tls=tls, reuse_port=reuse_port)
                elif name == "component":
                    listener = await start_components(server, host, port, reuse_port=reuse_port)
                else:
                    listener = await start_c2s(
                        server, host, port, direct_tls=tls, reuse_port=reuse_port
                    )
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {host}:{port} ({name}): {exc.strerror}"
                ) from None
            self.listeners.servers.append(listener)
            self.listeners.ports[name] = listener.sockets[0].getsockname()[1]
        http.start_keepalive()

    async def stop(self) -> None:
        """Ordered, bounded shutdown (see module docstring)."""
        server = self.server
        if server is None:
            return
        deadline = time.monotonic() + self.settings.shutdown_timeout * 0.8
        for listener in self.listeners.servers:
            listener.close()
        await self.calls.shutdown()  # the parties hear it while their streams are still open
        if self._compactor is not None:
            self._compactor.stop()
        if self._heap_trimmer is not None:
            self._heap_trimmer.stop()
        if self._keepalive is not None:
            self._keepalive.stop()
        if self.http is not None:
            self.http.stop()
        for stream in list(server.connections):
            stream.close(StreamErrorCondition.SYSTEM_SHUTDOWN, "the server is shutting down")
        for session in server.resumption:  # hibernating (XEP-0198): their queues go offline
            if session.hibernating:
                session.close()
        while server.connections and time.monotonic() < deadline - 1:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await server.tasks.drain(max(0.1, deadline - time.monotonic()))
        for module in self.modules:
            result = module.stop()
            if result is not None:
                await result
        await self.release()

    async def release(self) -> None:
        """Close the database (its driver threads would keep the process alive)."""
        self.server = None
        storage, self._storage = self._storage, None
        if storage is not None:
            await storage.close()


async def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; 0 on a clean stop."""
    app = App(settings)
    await app.start()
    # Everything allocated so far lives as long as the process: keep it out of the cyclic
    # collector's scans, and collect young objects less often (stanzas are acyclic and die
    # young; fewer, shorter collections = a lower latency tail).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_0, 20, 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    try:
        async with asyncio.timeout(settings.shutdown_timeout * 0.9):
            await app.stop()
    except TimeoutError:
        log.error("shutdown took longer than SHUTDOWN_TIMEOUT; exiting anyway")
        await app.release()
    return 0
