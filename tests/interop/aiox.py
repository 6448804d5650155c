"""aioxmpp clients for the tests: real TLS to the test server, events recorded to await in tests.

aioxmpp (with aiosasl and aioopenssl/pyOpenSSL) is a second client stack, independent of slixmpp.
Connections go to 127.0.0.1 on the test ports through ``override_peer`` (no DNS), over STARTTLS
(``STARTTLSConnector``) or direct TLS (``XMPPOverTLSConnector``, XEP-0368).

TLS verification is real: :class:`TrustServerCertificate` is a custom aioxmpp certificate verifier
(OpenSSL chain check with the server's generated certificate file as the only trust anchor, then
the certificate must name the stream's domain). No pinning and no ``no_verify``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosasl
import aioxmpp
import aioxmpp.connector
import aioxmpp.dispatcher
import aioxmpp.errors
import aioxmpp.misc  # registers XEP-0203 <delay/> on Message (xep0203_delay)
import aioxmpp.sasl
import aioxmpp.security_layer
import OpenSSL.crypto
import OpenSSL.SSL
from cryptography import x509

from tests.server_fixtures import PASSWORD, RunningServer

TIMEOUT = 10.0
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")

_T = TypeVar("_T")


class TrustServerCertificate(aioxmpp.security_layer.CertificateVerifier):  # type: ignore[misc]
    """PKIX verification anchored at one certificate file instead of the system trust store.

    OpenSSL checks the chain against ``cafile`` only; the leaf must then name the stream's domain
    in its subjectAltName. Like aioxmpp's ``PKIXCertificateVerifier``, whose own hostname check
    cannot be used here: it calls pyOpenSSL's ``X509.get_subject`` and ``ssl.match_hostname``,
    both deprecated (DeprecationWarning, an error under this project's filterwarnings).
    """

    def __init__(self, cafile: Path) -> None:
        super().__init__()
        self._cafile = cafile

    def setup_context(self, ctx: OpenSSL.SSL.Context, transport: Any) -> None:
        super().setup_context(ctx, transport)  # VERIFY_PEER with verify_callback below
        ctx.load_verify_locations(str(self._cafile))

    def verify_callback(
        self, conn: Any, x509_cert: OpenSSL.crypto.X509, errno: int, depth: int, ok: int
    ) -> bool:
        if not ok:
            return False
        if depth > 0:
            return True
        hostname = self.transport.get_extra_info("server_hostname")
        try:
            san = x509_cert.to_cryptography().extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
        except x509.ExtensionNotFound:
            return False
        names = {name.lower() for name in san.value.get_values_for_type(x509.DNSName)}
        return isinstance(hostname, str) and hostname.lower() in names

    async def post_handshake(self, transport: Any) -> None:
        pass


class OneMechanism(aioxmpp.security_layer.SASLProvider):  # type: ignore[misc]
    """Password authentication with exactly one SASL mechanism, or none at all.

    aioxmpp's ``PasswordSASLProvider`` picks the strongest SCRAM the server offers and falls back
    to PLAIN; this one fails (:class:`MechanismNotOffered`) unless the server offers
    ``mechanism``.
    """

    def __init__(self, mechanism: str, password: str) -> None:
        super().__init__()
        if mechanism not in MECHANISMS:
            raise ValueError(mechanism)
        self.mechanism = mechanism
        self.password = password
        self.offered: list[str] = []
        self.used: str | None = None

    async def execute(
        self, client_jid: aioxmpp.JID, features: Any, xmlstream: Any, tls_transport: Any
    ) -> bool:
        self.offered = list(features[aioxmpp.security_layer.SASLMechanisms].get_mechanism_list())
        if self.mechanism not in self.offered:
            # not "return False": aioxmpp would then try DNS discovery (see ConnectFailed)
            raise MechanismNotOffered(f"{self.mechanism} not in {self.offered}")
        mechanism_class = aiosasl.PLAIN if self.mechanism == "PLAIN" else aiosasl.SCRAM
        token = mechanism_class.any_supported([self.mechanism])

        async def credentials() -> tuple[str, str]:
            return client_jid.localpart, self.password

        intf = aioxmpp.sasl.SASLXMPPInterface(xmlstream)
        if not await self._execute(intf, mechanism_class(credentials), token):
            raise MechanismNotOffered(f"the server refused {self.mechanism}")
        self.used = self.mechanism
        return True


class AnyMechanism(aioxmpp.security_layer.PasswordSASLProvider):  # type: ignore[misc]
    """aioxmpp's own choice (the best SCRAM offered, then PLAIN), one attempt, no DNS fallback."""

    def __init__(self, password: str) -> None:
        async def provide(_jid: aioxmpp.JID, attempt: int) -> str | None:
            return password if attempt == 0 else None

        super().__init__(provide, max_auth_attempts=1)

    async def execute(self, *args: Any) -> bool:
        if not await super().execute(*args):
            raise MechanismNotOffered("no SCRAM or PLAIN mechanism usable")
        return True


class ConnectFailed(RuntimeError):
    """The test server could not be reached or refused the stream; ``__cause__`` says why."""


class MechanismNotOffered(RuntimeError):
    """The server did not offer the one SASL mechanism a :class:`OneMechanism` may use."""


class _NoDiscoveryFallback:
    """Turns a failed connection into :class:`ConnectFailed`.

    When every ``override_peer`` fails with an ``OSError`` (which includes aioxmpp's stream and
    TLS negotiation errors), aioxmpp falls back to DNS SRV/A discovery for the JID's domain: for
    "localhost" that could reach some other server on port 5222. A non-``OSError`` ends the
    attempt instead, and the client fails.
    """

    transport: asyncio.Transport

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await super().connect(*args, **kwargs)  # type: ignore[misc]
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        self.transport = result[0]
        return result


class StartTLSConnector(_NoDiscoveryFallback, aioxmpp.connector.STARTTLSConnector):  # type: ignore[misc]
    pass


class DirectTLSConnector(_NoDiscoveryFallback, aioxmpp.connector.XMPPOverTLSConnector):  # type: ignore[misc]
    pass


def security_layer(
    server: RunningServer,
    password: str = PASSWORD,
    mechanism: str | None = None,
    cafile: Path | None = None,
    sasl: Any = None,
) -> aioxmpp.security_layer.SecurityLayer:
    """TLS required, verified against ``cafile`` (default: the server's certificate).

    SASL: ``sasl`` if given, else :class:`OneMechanism` for ``mechanism``, else
    :class:`AnyMechanism`.
    """
    anchor = server.cert_path if cafile is None else cafile
    if sasl is None and mechanism is not None:
        sasl = OneMechanism(mechanism, password)
    elif sasl is None:
        sasl = AnyMechanism(password)
    return aioxmpp.security_layer.SecurityLayer(
        aioxmpp.security_layer.default_ssl_context,
        lambda: TrustServerCertificate(anchor),
        True,  # tls_required: no plaintext fallback
        (sasl,),
    )


def make_client(
    server: RunningServer,
    jid: str,
    password: str = PASSWORD,
    *,
    direct_tls: bool = False,
    mechanism: str | None = None,
    resource: str | None = None,
    cafile: Path | None = None,
    sasl: Any = None,
) -> aioxmpp.Client:
    connector: aioxmpp.connector.BaseConnector
    if direct_tls:
        connector = DirectTLSConnector()
        port = server.tls_port
    else:
        connector = StartTLSConnector()
        port = server.c2s_port
    local_jid = aioxmpp.JID.fromstr(jid)
    if resource is not None:
        local_jid = local_jid.replace(resource=resource)
    return aioxmpp.Client(
        local_jid,
        security_layer(server, password, mechanism, cafile, sasl),
        override_peer=[("127.0.0.1", port, connector)],
        negotiation_timeout=timedelta(seconds=TIMEOUT),
        max_initial_attempts=1,
    )


class Inbox(Generic[_T]):
    """What a client received, in order; tests take items out by predicate (none are skipped)."""

    def __init__(self) -> None:
        self._items: list[_T] = []
        self._arrived = asyncio.Event()

    def put(self, item: _T) -> None:
        self._items.append(item)
        self._arrived.set()

    async def take(self, where: Callable[[_T], bool] | None = None, within: float = TIMEOUT) -> _T:
        """Remove and return the first item matching ``where``, waiting up to ``within`` s."""
        async with asyncio.timeout(within):
            while True:
                for index, item in enumerate(self._items):
                    if where is None or where(item):
                        del self._items[index]
                        return item
                self._arrived.clear()
                await self._arrived.wait()

    def pending(self, where: Callable[[_T], bool] | None = None) -> list[_T]:
        """The items not taken yet (that match ``where``)."""
        return [item for item in self._items if where is None or where(item)]


def _sent_by(sender: aioxmpp.JID | str | None) -> Callable[[Any], bool]:
    """Matches a stanza from ``sender``: any resource of a bare JID, or exactly a full JID."""
    if sender is None:
        return lambda _stanza: True
    jid = aioxmpp.JID.fromstr(sender) if isinstance(sender, str) else sender

    def matches(stanza: Any) -> bool:
        received = stanza.from_
        if received is None:
            return False
        return bool(received == jid or (jid.is_bare and received.bare() == jid))

    return matches


class Session:
    """A connected aioxmpp client, its services, and what it has received so far.

    ``messages`` and ``presences`` hold every stanza the stream delivered (errors included);
    ``roster_events`` holds ``(kind, item)`` from aioxmpp's RosterClient signals, kind one of
    "added", "removed", "subscription", "name", "groups".
    """

    def __init__(self, client: aioxmpp.Client) -> None:
        self.client = client
        self.messages: Inbox[aioxmpp.Message] = Inbox()
        self.presences: Inbox[aioxmpp.Presence] = Inbox()
        self.roster_events: Inbox[tuple[str, Any]] = Inbox()
        self.stopped = asyncio.Event()
        self.roster = client.summon(aioxmpp.RosterClient)
        self.presence = client.summon(aioxmpp.PresenceClient)
        self.disco = client.summon(aioxmpp.DiscoClient)
        # aioxmpp disconnects a signal handler that returns a true value: these return None
        client.stream.on_message_received.connect(self.messages.put)
        client.stream.on_presence_received.connect(self.presences.put)
        for kind, signal in (
            ("added", self.roster.on_entry_added),
            ("removed", self.roster.on_entry_removed),
            ("subscription", self.roster.on_entry_subscription_state_changed),
            ("name", self.roster.on_entry_name_changed),
            ("groups", self.roster.on_entry_added_to_group),
        ):
            signal.connect(functools.partial(self._on_roster, kind))
        client.on_stopped.connect(self.stopped.set)
        client.on_failure.connect(lambda _exc: self.stopped.set())

    def _on_roster(self, kind: str, item: Any, *_group: str) -> None:
        self.roster_events.put((kind, item))

    @property
    def jid(self) -> aioxmpp.JID:
        """The bound full JID."""
        jid: aioxmpp.JID = self.client.local_jid
        return jid

    async def next_message(
        self,
        within: float = TIMEOUT,
        *,
        from_: aioxmpp.JID | str | None = None,
        type_: aioxmpp.MessageType | None = None,
    ) -> aioxmpp.Message:
        """The first message not yet taken from ``from_`` (bare: any resource) of ``type_``."""
        sent_by = _sent_by(from_)
        return await self.messages.take(
            lambda m: sent_by(m) and (type_ is None or m.type_ == type_), within
        )

    async def next_presence(
        self,
        within: float = TIMEOUT,
        *,
        type_: aioxmpp.PresenceType | None = None,
        from_: aioxmpp.JID | str | None = None,
    ) -> aioxmpp.Presence:
        """The first presence not yet taken of ``type_`` from ``from_`` (bare: any resource)."""
        sent_by = _sent_by(from_)
        return await self.presences.take(
            lambda p: sent_by(p) and (type_ is None or p.type_ == type_), within
        )

    async def next_roster_event(self, kind: str, jid: str, within: float = TIMEOUT) -> Any:
        """The roster item of the first event ``kind`` about ``jid`` (bare) not yet taken."""
        target = aioxmpp.JID.fromstr(jid)
        _kind, item = await self.roster_events.take(
            lambda event: event[0] == kind and event[1].jid == target, within
        )
        return item

    async def wait_roster(
        self, jid: str, where: Callable[[Any], bool], within: float = TIMEOUT
    ) -> Any:
        """Wait until the local roster copy has an item for ``jid`` satisfying ``where``."""
        target = aioxmpp.JID.fromstr(jid)
        async with asyncio.timeout(within):
            while True:
                item = self.roster.items.get(target)
                if item is not None and where(item):
                    return item
                await self.roster_events.take(lambda event: event[1].jid == target, within)

    def set_presence(self, priority: int = 0, *, available: bool = True) -> aioxmpp.Presence:
        """Broadcast available (or unavailable) presence with ``priority``.

        Not through aioxmpp's PresenceServer: in 0.13 its ``make_stanza`` leaves the priority out.
        """
        type_ = aioxmpp.PresenceType.AVAILABLE if available else aioxmpp.PresenceType.UNAVAILABLE
        stanza = aioxmpp.Presence(type_=type_)
        if available:
            stanza.priority = priority
        self.client.enqueue(stanza)
        return stanza

    async def go_available(self, priority: int = 0) -> aioxmpp.Presence:
        """Send available presence; return the server's echo of it to this resource."""
        self.set_presence(priority)
        return await self.next_presence(type_=aioxmpp.PresenceType.AVAILABLE, from_=self.jid)

    async def send(self, stanza: Any, within: float = TIMEOUT) -> Any:
        """Send ``stanza``; for an IQ, return the result payload (an error raises XMPPError)."""
        return await self.client.send(stanza, timeout=within)

    def send_message(
        self,
        to: aioxmpp.JID | str,
        body: str,
        type_: aioxmpp.MessageType = aioxmpp.MessageType.CHAT,
    ) -> aioxmpp.Message:
        recipient = aioxmpp.JID.fromstr(to) if isinstance(to, str) else to
        message = aioxmpp.Message(type_=type_, to=recipient)
        message.body[None] = body
        self.client.enqueue(message)
        return message

    def abort_connection(self) -> None:
        """Drop the TCP connection without a word (no unavailable presence, no </stream>).

        The client then waits ``backoff_start`` before reconnecting: tests raise it first.
        """
        (_host, _port, connector) = self.client.override_peer[0]
        connector.transport.abort()

    async def stop(self) -> None:
        if self.client.running:
            self.client.stop()
            await asyncio.wait_for(self.stopped.wait(), TIMEOUT)


async def start(client: aioxmpp.Client) -> Session:
    """Start ``client`` and wait until its stream is established (raises what the login raised)."""
    session = Session(client)
    established: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_established() -> None:
        if not established.done():
            established.set_result(None)

    def on_failure(exc: BaseException) -> None:
        if not established.done():
            established.set_exception(exc)

    client.on_stream_established.connect(on_established)
    client.on_failure.connect(on_failure)
    client.start()
    try:
        await asyncio.wait_for(established, TIMEOUT)
    except BaseException:
        client.stop()
        raise
    return session


@contextlib.asynccontextmanager
async def connected(
    server: RunningServer,
    jid: str,
    password: str = PASSWORD,
    *,
    direct_tls: bool = False,
    mechanism: str | None = None,
    sasl: Any = None,
    resource: str | None = None,
    presence: bool = True,
    priority: int = 0,
) -> AsyncIterator[Session]:
    """A logged-in session (initial presence sent and echoed, unless ``presence=False``)."""
    client = make_client(
        server,
        jid,
        password,
        direct_tls=direct_tls,
        mechanism=mechanism,
        sasl=sasl,
        resource=resource,
    )
    session = await start(client)
    try:
        if presence:
            await session.go_available(priority)
        yield session
    finally:
        await session.stop()
