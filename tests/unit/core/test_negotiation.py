"""The c2s negotiation (`core.c2s.C2SStream`, table in `stream.states`) driven without sockets.

A `FakeChannel` records what the stream writes; a `FakeAccounts` knows one user (romeo) with real
SCRAM keys. Every client input is a named token of `TOKENS`, so a failing Hypothesis example reads
as a dialogue (`["header", "starttls", "header", "auth-plain-ok", ...]`).

The properties, for any token sequence on any kind of channel: nothing escapes `data_received`,
no handler crashes (no `internal-server-error`, no error logged), the output is well-formed XML
once wrapped, and the stream is either open (no stream error, no closing tag) or closed with
exactly one documented RFC 6120 stream error then `</stream:stream>` — or a plain
`</stream:stream>` answering the client's own — and nothing is written after the close.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, cast
from xml.etree import ElementTree as ET
from xml.etree.ElementTree import Element

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmpp_video.auth.passwords import (
    ScramCredentials,
    ScramHash,
    derive_credentials,
    dummy_credentials,
    verify_password,
)
from xmpp_video.config import Settings
from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.registry import LocalRegistry
from xmpp_video.core.router import Router
from xmpp_video.core.server import Server
from xmpp_video.core.tasks import TaskSet
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.stream.states import StreamState
from xmpp_video.xml.framing import TCP_FRAMING

pytestmark = pytest.mark.asyncio

DOMAIN = "localhost"
USER = "romeo"
PASSWORD = "wherefore art thou"
ITERATIONS = 64  # real servers use 4096; the exchange is the same and the tests stay fast
STREAM_CONDITIONS = frozenset(c.value for c in StreamErrorCondition)

# -- fakes -------------------------------------------------------------------------------------


class FakeUsers:
    def __init__(self) -> None:
        self.logins: list[tuple[str, str]] = []

    async def touch_last_login(self, username: str, domain: str) -> None:
        self.logins.append((username, domain))


class FakeAccounts:
    """The part of `core.accounts.Accounts` the stream uses; romeo is the only account."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.creds = {h: derive_credentials(PASSWORD, h, iterations=ITERATIONS) for h in ScramHash}
        self.gate: asyncio.Event | None = None  # set: lookups wait for it (a slow database)

    async def _slow(self) -> None:
        if self.gate is not None:
            await self.gate.wait()

    async def scram_credentials(self, username: str, hash_: ScramHash) -> ScramCredentials:
        await self._slow()
        if username == USER:
            return self.creds[hash_]
        return dummy_credentials(username, hash_, ITERATIONS)

    async def check_password(self, username: str, password: str) -> bool:
        await self._slow()
        creds = self.creds[ScramHash.SHA256]
        return verify_password(password, creds) and username == USER

    async def exists(self, username: str) -> bool:
        return username == USER


class FakeChannel:
    """A `Channel` that keeps everything written, and what was written after `close()`."""

    peer = "fake-peer"
    framing = TCP_FRAMING

    def __init__(self, *, encrypted: bool, tls_available: bool) -> None:
        self.encrypted = encrypted
        self.tls_available = tls_available
        self.output = bytearray()
        self.late: list[bytes] = []
        self.closed = False
        self.paused = False
        self.handshake: asyncio.Event | None = None  # set: starttls() waits for it

    def write(self, data: bytes) -> None:
        if self.closed:
            self.late.append(data)
        else:
            self.output += data

    def write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def can_starttls(self) -> bool:
        return self.tls_available and not self.encrypted

    async def starttls(self) -> None:
        await asyncio.sleep(0)  # a handshake takes a few loop turns
        if self.handshake is not None:
            await self.handshake.wait()
        self.encrypted = True

    def attach(self, stream: C2SStream) -> None:
        self.attached = stream  # a resumed session took this connection over (XEP-0198)


@dataclass(frozen=True)
class Transport:
    """A kind of connection: what the channel offers and whether the server demands TLS."""

    name: str
    encrypted: bool
    tls_available: bool
    require_tls: bool


DIRECT_TLS = Transport("direct-tls", encrypted=True, tls_available=False, require_tls=True)
STARTTLS = Transport("starttls", encrypted=False, tls_available=True, require_tls=True)
CLEAR_ALLOWED = Transport("clear-allowed", encrypted=False, tls_available=False, require_tls=False)
CLEAR_REFUSED = Transport("clear-refused", encrypted=False, tls_available=False, require_tls=True)
TRANSPORTS = (DIRECT_TLS, STARTTLS, CLEAR_ALLOWED, CLEAR_REFUSED)


def make_server(**overrides: Any) -> Server:
    """A `Server` context without database, as `benchmarks/route_micro.py` builds one."""
    settings_ = replace(Settings(xmpp_domain=DOMAIN, auth_timeout=30.0), **overrides)
    registry, hooks, iq = LocalRegistry(), Hooks(), IqDispatcher()
    accounts = FakeAccounts()

    async def exists(bare: str) -> bool:
        return await accounts.exists(bare.partition("@")[0])

    return Server(
        settings=settings_,
        node_id="test",
        storage=cast(Any, None),
        accounts=cast(Any, accounts),
        hooks=hooks,
        iq=iq,
        registry=registry,
        router=Router(DOMAIN, registry, iq, hooks, exists),
        tasks=TaskSet(),
        ssl_context=None,
    )


# -- a client SCRAM implementation (RFC 5802), independent of xmpp_video.auth.scram ------------


class ScramClient:
    def __init__(self, hash_: ScramHash, username: str, password: str) -> None:
        self.hash = hash_
        self.password = password
        self.nonce = secrets.token_hex(12)
        self.first_bare = f"n={username},r={self.nonce}"
        self.server_signature = b""

    def first(self) -> bytes:
        return b"n,," + self.first_bare.encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        attrs = dict(part.split("=", 1) for part in text.split(","))
        salted = hashlib.pbkdf2_hmac(
            self.hash.hashlib_name,
            self.password.encode(),
            base64.b64decode(attrs["s"]),
            int(attrs["i"]),
        )
        client_key = self.hash.hmac(salted, b"Client Key")
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self.first_bare},{text},{without_proof}".encode()
        signature = self.hash.hmac(self.hash.digest(client_key), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = self.hash.hmac(salted, b"Server Key")
        self.server_signature = self.hash.hmac(server_key, auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


# -- the client side ---------------------------------------------------------------------------


class Peer:
    """One stream and its channel, plus the client state tokens need (the SCRAM exchange)."""

    def __init__(self, server: Server, transport: Transport) -> None:
        self.server = server
        self.channel = FakeChannel(
            encrypted=transport.encrypted, tls_available=transport.tls_available
        )
        self.stream = C2SStream(server, self.channel)
        self.scram: ScramClient | None = None
        self.sent_close = False
        self._seen = 0

    async def send(self, data: bytes, *, settle: bool = True) -> bytes:
        """Feed `data`; with `settle`, wait until every handler it started is done. Returns what
        the server wrote since the last call."""
        if data == CLOSE:
            self.sent_close = True
        self.stream.data_received(data)
        if settle:
            await self.settle()
        return self.new_output()

    async def token(self, name: str, *, settle: bool = True) -> bytes:
        return await self.send(TOKENS[name](self), settle=settle)

    async def settle(self) -> None:
        for _ in range(1000):
            if not len(self.server.tasks):
                return
            await asyncio.sleep(0)
        raise AssertionError("the stream's handlers never finished")

    def new_output(self) -> bytes:
        out = bytes(self.channel.output[self._seen :])
        self._seen = len(self.channel.output)
        return out

    @property
    def output(self) -> bytes:
        return bytes(self.channel.output)

    def last_challenge(self) -> bytes | None:
        found = re.findall(
            rb"<challenge xmlns='(?:" + SASL + rb"|" + SASL2 + rb")'>([^<]*)</challenge>",
            self.output,
        )
        return base64.b64decode(found[-1]) if found else None

    async def finish(self) -> None:
        """What the transport does when the connection is gone (cancels the auth timer)."""
        self.stream.connection_lost()
        await self.settle()


@asynccontextmanager
async def peers(**overrides: Any) -> AsyncIterator[Callable[[Transport], Peer]]:
    """A server context; the callable opens a stream on it. Every stream is ended on exit."""
    opened: list[Peer] = []
    servers: dict[bool, Server] = {}

    def open_(transport: Transport) -> Peer:
        server = servers.get(transport.require_tls)
        if server is None:
            server = make_server(require_tls=transport.require_tls, **overrides)
            servers[transport.require_tls] = server
        peer = Peer(server, transport)
        opened.append(peer)
        return peer

    try:
        yield open_
    finally:
        for peer in opened:
            await peer.finish()


# -- the vocabulary ----------------------------------------------------------------------------

SASL = ns.SASL.encode()
CLOSE = b"</stream:stream>"
HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" to='localhost' version='1.0'>"
)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data) if data else b"="


def auth(mechanism: str | None, body: bytes = b"") -> bytes:
    attr = b"" if mechanism is None else b" mechanism='" + mechanism.encode() + b"'"
    return b"<auth xmlns='" + SASL + b"'" + attr + b">" + body + b"</auth>"


def response(body: bytes) -> bytes:
    return b"<response xmlns='" + SASL + b"'>" + body + b"</response>"


def _scram_auth(hash_: ScramHash, username: str, password: str) -> Callable[[Peer], bytes]:
    def build(peer: Peer) -> bytes:
        peer.scram = ScramClient(hash_, username, password)
        return auth(hash_.mechanism, _b64(peer.scram.first()))

    return build


def _scram_response(peer: Peer) -> bytes:
    challenge = peer.last_challenge()
    if peer.scram is None or challenge is None:
        return response(_b64(b"c=biws,r=no-exchange,p=AAAA"))
    return response(_b64(peer.scram.final(challenge)))


def iq(type_: str, payload: bytes, *, to: str | None = None) -> bytes:
    to_attr = b"" if to is None else b" to='" + to.encode() + b"'"
    return b"<iq type='" + type_.encode() + b"' id='i1'" + to_attr + b">" + payload + b"</iq>"


def bind(resource: str | None) -> bytes:
    inner = b"" if resource is None else b"<resource>" + resource.encode() + b"</resource>"
    return iq("set", b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>" + inner + b"</bind>")


def _const(data: bytes) -> Callable[[Peer], bytes]:
    return lambda _peer: data


def _plain(authzid: str, authcid: str, password: str) -> Callable[[Peer], bytes]:
    return _const(auth("PLAIN", _b64(f"{authzid}\0{authcid}\0{password}".encode())))


# XEP-0388 SASL2 with Bind 2 (XEP-0386), inline resumption and FAST (XEP-0484)
SASL2 = b"urn:xmpp:sasl:2"
AGENT = b"<user-agent id='0a1b2c3d-aaaa-4bbb-8ccc-0123456789ab'><software>t</software></user-agent>"
BIND2 = (
    b"<bind xmlns='urn:xmpp:bind:0'><tag>T</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/>"
    b"<enable xmlns='urn:xmpp:carbons:2'/><inactive xmlns='urn:xmpp:csi:0'/></bind>"
)
REQUEST_TOKEN = b"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>"


def authenticate(mechanism: str | None, initial: bytes | None, inline: bytes = b"") -> bytes:
    attr = b"" if mechanism is None else b" mechanism='" + mechanism.encode() + b"'"
    ir = b"" if initial is None else b"<initial-response>" + initial + b"</initial-response>"
    return b"<authenticate xmlns='" + SASL2 + b"'" + attr + b">" + ir + inline + b"</authenticate>"


def _sasl2_plain(password: str, inline: bytes = b"") -> Callable[[Peer], bytes]:
    initial = base64.b64encode(f"\0{USER}\0{password}".encode())
    return _const(authenticate("PLAIN", initial, inline))


def _sasl2_scram(peer: Peer) -> bytes:
    peer.scram = ScramClient(ScramHash.SHA256, USER, PASSWORD)
    return authenticate("SCRAM-SHA-256", base64.b64encode(peer.scram.first()), AGENT + BIND2)


def _sasl2_response(peer: Peer) -> bytes:
    challenge = peer.last_challenge()
    final = b"c=biws,r=no-exchange,p=AAAA"
    if peer.scram is not None and challenge is not None:
        final = peer.scram.final(challenge)
    return b"<response xmlns='" + SASL2 + b"'>" + base64.b64encode(final) + b"</response>"


TOKENS: dict[str, Callable[[Peer], bytes]] = {
    "header": _const(HEADER),
    "header-with-declaration": _const(b"<?xml version='1.0'?>" + HEADER),
    "header-wrong-host": _const(HEADER.replace(b"'localhost'", b"'elsewhere.example'")),
    "header-no-version": _const(HEADER.replace(b" version='1.0'", b"")),
    "starttls": _const(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
    "auth-plain-ok": _plain("", USER, PASSWORD),
    "auth-plain-wrong": _plain("", USER, "not the password"),
    "auth-plain-unknown-user": _plain("", "nobody", PASSWORD),
    "auth-plain-authzid-other": _plain("juliet@localhost", USER, PASSWORD),
    "auth-plain-bad-base64": _const(auth("PLAIN", b"!!not base64!!")),
    "auth-plain-empty": _const(auth("PLAIN", b"=")),
    "auth-scram-sha-1-ok": _scram_auth(ScramHash.SHA1, USER, PASSWORD),
    "auth-scram-sha-256-ok": _scram_auth(ScramHash.SHA256, USER, PASSWORD),
    "auth-scram-sha-256-wrong": _scram_auth(ScramHash.SHA256, USER, "not the password"),
    "auth-scram-sha-256-unknown-user": _scram_auth(ScramHash.SHA256, "nobody", PASSWORD),
    "auth-scram-sha-256-bad-base64": _const(auth("SCRAM-SHA-256", b"n,,n=romeo")),
    "auth-scram-sha-1-garbage": _const(auth("SCRAM-SHA-1", _b64(b"hello, world"))),
    "auth-unknown-mechanism": _const(auth("X-UNKNOWN", _b64(b"whatever"))),
    "auth-unknown-mechanism-bad-base64": _const(auth("DIGEST-MD5", b"%%%")),
    "auth-no-mechanism": _const(auth(None, b"=")),
    "response-scram": _scram_response,
    "response-bad-base64": _const(response(b"not*base64")),
    "response-empty": _const(response(b"")),
    "abort": _const(b"<abort xmlns='" + SASL + b"'/>"),
    "bind-resource": _const(bind("balcony")),
    "bind-no-resource": _const(bind(None)),
    "bind-get": _const(iq("get", b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>")),
    "session": _const(iq("set", b"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>")),
    "roster-get": _const(iq("get", b"<query xmlns='jabber:iq:roster'/>")),
    "ping-server": _const(iq("get", b"<ping xmlns='urn:xmpp:ping'/>", to=DOMAIN)),
    "message": _const(
        b"<message to='juliet@localhost' type='chat'><body>hi &amp; bye</body></message>"
    ),
    "message-from-own-bare": _const(
        b"<message from='romeo@localhost' to='juliet@localhost'><body>hi</body></message>"
    ),
    "message-forged-from": _const(
        b"<message from='juliet@localhost/x' to='romeo@localhost'><body>hi</body></message>"
    ),
    "presence": _const(b"<presence/>"),
    "presence-directed": _const(b"<presence to='juliet@localhost/garden'/>"),
    "unknown-client-element": _const(b"<query/>"),
    "sm-enable": _const(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>"),
    "sm-r": _const(b"<r xmlns='urn:xmpp:sm:3'/>"),
    "sm-a": _const(b"<a xmlns='urn:xmpp:sm:3' h='0'/>"),
    "sm-a-too-high": _const(b"<a xmlns='urn:xmpp:sm:3' h='4294967295'/>"),
    "sm-a-bad": _const(b"<a xmlns='urn:xmpp:sm:3' h='-1'/>"),
    "sm-resume-unknown": _const(b"<resume xmlns='urn:xmpp:sm:3' previd='nope' h='0'/>"),
    "csi-inactive": _const(b"<inactive xmlns='urn:xmpp:csi:0'/>"),
    "csi-active": _const(b"<active xmlns='urn:xmpp:csi:0'/>"),
    "unknown-namespace": _const(b"<foo xmlns='urn:example:unknown'><bar>x</bar></foo>"),
    "whitespace": _const(b" \n"),
    "close": _const(CLOSE),
    "authenticate-plain-bind2": _sasl2_plain(PASSWORD, AGENT + BIND2 + REQUEST_TOKEN),
    "authenticate-plain-no-bind": _sasl2_plain(PASSWORD),
    "authenticate-plain-wrong": _sasl2_plain("not the password", AGENT + BIND2),
    "authenticate-resume-unknown": _sasl2_plain(
        PASSWORD, b"<resume xmlns='urn:xmpp:sm:3' previd='nope' h='0'/>" + BIND2
    ),
    "authenticate-scram-sha-256": _sasl2_scram,
    "response-sasl2": _sasl2_response,
    "abort-sasl2": _const(b"<abort xmlns='" + SASL2 + b"'/>"),
    "authenticate-no-mechanism": _const(authenticate(None, b"=")),
    "authenticate-bad-base64": _const(authenticate("PLAIN", b"%%%")),
    "authenticate-unknown-mechanism": _const(authenticate("X-UNKNOWN", None)),
    "authenticate-fast": _const(
        authenticate(
            "HT-SHA-256-NONE",
            base64.b64encode(b"romeo\0" + bytes(32)),
            AGENT + BIND2 + b"<fast xmlns='urn:xmpp:fast:0' count='1'/>",
        )
    ),
}

# Paths to each negotiation state, per transport (None: the state cannot be reached on it).
_TO_NEGOTIATING = {
    DIRECT_TLS.name: ["header"],
    STARTTLS.name: ["header", "starttls", "header"],
    CLEAR_ALLOWED.name: ["header"],
    CLEAR_REFUSED.name: ["header"],
}
_LOGIN = {
    DIRECT_TLS.name: ["auth-plain-ok"],
    STARTTLS.name: ["auth-plain-ok"],
    CLEAR_ALLOWED.name: ["auth-scram-sha-256-ok", "response-scram"],
}


def path_to(state: str, transport: Transport) -> list[str] | None:
    negotiating = _TO_NEGOTIATING[transport.name]
    login = _LOGIN.get(transport.name)
    paths: dict[str, list[str] | None] = {
        "wait-header": [],
        "tls-restart": ["header", "starttls"] if transport is STARTTLS else None,
        "negotiating": negotiating,
        "sasl": None if transport is CLEAR_REFUSED else [*negotiating, "auth-scram-sha-256-ok"],
        "auth-restart": None if login is None else negotiating + login,
        "wait-bind": None if login is None else [*negotiating, *login, "header"],
        "bound": None if login is None else [*negotiating, *login, "header", "bind-resource"],
        "closed": ["header", "close"],
    }
    return paths[state]


EXPECTED_STATE = {
    "wait-header": StreamState.WAIT_HEADER,
    "tls-restart": StreamState.WAIT_HEADER,
    "negotiating": StreamState.NEGOTIATING,
    "sasl": StreamState.SASL,
    "auth-restart": StreamState.WAIT_HEADER,
    "wait-bind": StreamState.WAIT_BIND,
    "bound": StreamState.BOUND,
    "closed": StreamState.CLOSED,
}

# -- checking the output -----------------------------------------------------------------------

_XML_DECLARATION = re.compile(rb"<\?xml[^>]*\?>")
_STREAM_ERROR = f"{{{ns.STREAM}}}error"


def wrapped(output: bytes) -> Element:
    """Parse the server's whole output: XML declarations removed, still-open streams (restarts
    nest new headers inside the old stream) closed, all of it inside one root element."""
    body = _XML_DECLARATION.sub(b"", output)
    opened = body.count(b"<stream:stream ")
    closed = body.count(CLOSE)
    assert closed <= 1, output
    assert closed <= opened, output
    document = (
        b"<output xmlns:stream='" + ns.STREAM.encode() + b"'>"
        + body
        + CLOSE * (opened - closed)
        + b"</output>"
    )  # fmt: skip
    try:
        return ET.fromstring(document)
    except ET.ParseError as exc:
        raise AssertionError(f"output is not well-formed ({exc}): {output!r}") from None


def stream_errors(output: bytes) -> list[str]:
    """The condition of each <stream:error> in the output (e.g. ``["not-authorized"]``)."""
    conditions = []
    for error in wrapped(output).iter(_STREAM_ERROR):
        names = [
            child.tag.partition("}")[2]
            for child in error
            if child.tag.startswith(f"{{{ns.STREAMS_ERRORS}}}") and not child.tag.endswith("text")
        ]
        assert len(names) == 1, f"a stream error needs exactly one condition: {names}"
        conditions.append(names[0])
    return conditions


def sasl_failures(output: bytes) -> list[str]:
    return [
        child.tag.partition("}")[2]
        for failure in wrapped(output).iter(f"{{{ns.SASL}}}failure")
        for child in failure
    ]


def assert_sane(peer: Peer) -> None:
    """The properties every stream keeps, whatever the client sent."""
    output = peer.output
    errors = stream_errors(output)  # also: well-formed once wrapped
    assert not peer.channel.late, f"written after the close: {peer.channel.late!r}"
    assert "internal-server-error" not in errors, "a handler crashed (see the logged traceback)"
    assert (peer.stream.state is StreamState.CLOSED) == peer.channel.closed
    body = output.rstrip()
    if not peer.channel.closed:
        assert not errors, output
        assert CLOSE not in output, output
        assert not peer.channel.paused, "reading left paused on an idle open stream"
        return
    assert body.endswith(CLOSE), output
    if errors:
        assert len(errors) == 1, errors
        assert errors[0] in STREAM_CONDITIONS, errors
        assert re.search(rb"</stream:error>\s*</stream:stream>$", body), output
    else:  # a clean close only answers the client's own </stream:stream>
        assert peer.sent_close, output


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_errors_logged() -> Iterator[None]:
    """Fails if xmpp_video logs an error (a crashed handler or task) inside the block."""
    handler = _ErrorLog()
    logger = logging.getLogger("xmpp_video")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]


# -- every (state x element) pair --------------------------------------------------------------

STATES = list(EXPECTED_STATE)


@pytest.mark.parametrize("token", list(TOKENS))
@pytest.mark.parametrize("state", STATES)
async def test_every_element_in_every_state(state: str, token: str) -> None:
    with no_errors_logged():
        async with peers() as open_peer:
            for transport in TRANSPORTS:
                path = path_to(state, transport)
                if path is None:
                    continue
                peer = open_peer(transport)
                for step in path:
                    await peer.token(step)
                assert peer.stream.state is EXPECTED_STATE[state], (transport, path)
                assert_sane(peer)
                await peer.token(token)
                assert_sane(peer)
                await peer.token("close")  # and it still ends properly
                assert_sane(peer)
                assert peer.channel.closed


# -- any sequence, on any transport ------------------------------------------------------------

_steps = st.lists(st.tuples(st.sampled_from(list(TOKENS)), st.booleans()), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    transport=st.sampled_from(TRANSPORTS),
    start=st.sampled_from(STATES),
    steps=_steps,
    chunked=st.booleans(),
)
async def test_any_sequence_keeps_the_stream_sane(
    transport: Transport, start: str, steps: list[tuple[str, bool]], chunked: bool
) -> None:
    """`steps` are (token, settle): without settling, the next token arrives while the stream
    may still wait for a handler (it must queue it, in order). `chunked` feeds each token byte
    by byte."""
    path = path_to(start, transport) or []
    with no_errors_logged():
        async with peers() as open_peer:
            peer = open_peer(transport)
            for step in path:
                await peer.token(step)
            for name, settle in steps:
                data = TOKENS[name](peer)
                if chunked:
                    for i in range(len(data)):
                        await peer.send(data[i : i + 1], settle=settle)
                    if data == CLOSE:
                        peer.sent_close = True
                else:
                    await peer.send(data, settle=settle)
                if settle:
                    assert_sane(peer)
            await peer.settle()
            assert_sane(peer)
            closed_output = peer.output
            if peer.channel.closed:
                await peer.token("message")
                assert peer.output == closed_output  # nothing more once closed


# -- rows of the table, one by one -------------------------------------------------------------


async def _negotiate(open_peer: Callable[[Transport], Peer], transport: Transport) -> Peer:
    peer = open_peer(transport)
    for step in _TO_NEGOTIATING[transport.name]:
        await peer.token(step)
    return peer


async def _login(peer: Peer, transport: Transport) -> None:
    for step in _LOGIN[transport.name]:
        await peer.token(step)
    await peer.token("header")


@pytest.mark.parametrize("stanza", ["message", "presence", "roster-get", "ping-server"])
async def test_stanza_before_auth_is_not_authorized(stanza: str) -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, DIRECT_TLS)
        await peer.token(stanza)
        assert stream_errors(peer.output) == ["not-authorized"]
        assert peer.channel.closed
        assert_sane(peer)


async def test_auth_before_tls_when_tls_is_required() -> None:
    async with peers() as open_peer:
        peer = open_peer(STARTTLS)
        features = await peer.token("header")
        assert b"<required/>" in features or b"<required />" in features
        assert b"mechanism" not in features  # nothing offered before TLS
        out = await peer.token("auth-plain-ok")
        assert sasl_failures(out) == ["encryption-required"]
        assert not peer.channel.closed
        assert peer.stream.authenticated_as is None
        # the client can still do it right
        await peer.token("starttls")
        assert peer.channel.encrypted
        features = await peer.token("header")
        assert b"<mechanism>PLAIN</mechanism>" in features
        assert b"<success xmlns" in await peer.token("auth-plain-ok")


async def test_plain_is_neither_offered_nor_accepted_in_clear() -> None:
    async with peers() as open_peer:
        peer = open_peer(CLEAR_ALLOWED)
        features = await peer.token("header")
        # SASL1 <mechanisms> and SASL2 <authentication> (XEP-0388) offer the same ones
        for block in (rb"<mechanisms .*?</mechanisms>", rb"<authentication .*?</authentication>"):
            found = re.search(block, features)
            assert found is not None, features
            mechanisms = re.findall(rb"<mechanism>([^<]+)</mechanism>", found.group())
            assert sorted(mechanisms) == [b"SCRAM-SHA-1", b"SCRAM-SHA-256"]
        out = await peer.token("auth-plain-ok")
        # RFC 6120 §6.5: invalid-mechanism (not offered here) or encryption-required are both fine
        assert sasl_failures(out) in (["invalid-mechanism"], ["encryption-required"])
        assert b"success" not in out
        assert peer.stream.authenticated_as is None
        assert not peer.channel.closed


@pytest.mark.parametrize(
    ("transport", "wrong"),
    [
        (DIRECT_TLS, ["auth-plain-wrong"]),
        (DIRECT_TLS, ["auth-plain-unknown-user"]),
        (CLEAR_ALLOWED, ["auth-scram-sha-256-wrong", "response-scram"]),
        (CLEAR_ALLOWED, ["auth-scram-sha-256-unknown-user", "response-scram"]),
    ],
)
async def test_three_failed_attempts_are_a_policy_violation(
    transport: Transport, wrong: list[str]
) -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, transport)
        for attempt in range(1, 4):
            for step in wrong:
                await peer.token(step)
            assert sasl_failures(peer.output) == ["not-authorized"] * attempt
            assert peer.channel.closed == (attempt == 3)
        assert stream_errors(peer.output) == ["policy-violation"]
        assert peer.stream.authenticated_as is None
        assert_sane(peer)


async def test_plain_success_then_a_new_header() -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, DIRECT_TLS)
        out = await peer.token("auth-plain-ok")
        assert out == b"<success xmlns='" + SASL + b"'/>"
        assert str(peer.stream.authenticated_as) == "romeo@localhost"
        assert peer.stream.state is StreamState.WAIT_HEADER
        out = await peer.token("header")
        assert out.startswith(b"<?xml version='1.0'?><stream:stream ")
        assert b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'" in out
        assert b"mechanisms" not in out
        assert peer.stream.state is StreamState.WAIT_BIND


@pytest.mark.parametrize("hash_", list(ScramHash))
async def test_scram_success_proves_the_server_knows_the_key(hash_: ScramHash) -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, CLEAR_ALLOWED)
        client = ScramClient(hash_, USER, PASSWORD)
        peer.scram = client
        await peer.send(auth(hash_.mechanism, _b64(client.first())))
        assert peer.stream.state is StreamState.SASL
        out = await peer.token("response-scram")
        found = re.fullmatch(rb"<success xmlns='" + SASL + rb"'>([^<]+)</success>", out)
        assert found, out
        assert base64.b64decode(found[1]) == b"v=" + base64.b64encode(client.server_signature)
        assert str(peer.stream.authenticated_as) == "romeo@localhost"


async def test_abort_ends_the_exchange_and_allows_another() -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, DIRECT_TLS)
        await peer.token("auth-scram-sha-256-ok")
        assert peer.stream.state is StreamState.SASL
        out = await peer.token("abort")
        assert sasl_failures(out) == ["aborted"]
        assert peer.stream.state is StreamState.NEGOTIATING
        assert not peer.channel.closed
        assert b"<success xmlns" in await peer.token("auth-plain-ok")


async def test_bind_without_resource_gets_one_chosen_by_the_server() -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, DIRECT_TLS)
        await _login(peer, DIRECT_TLS)
        out = await peer.token("bind-no-resource")
        jid = re.search(rb"<jid>([^<]+)</jid>", out)
        assert jid, out
        bare, _, resource = jid[1].decode().partition("/")
        assert bare == "romeo@localhost"
        assert resource
        assert peer.stream.full == jid[1].decode()
        assert peer.stream.state is StreamState.BOUND
        assert peer.server.registry.get(peer.stream.full) is peer.stream


async def test_bind_conflict_gives_the_newcomer_another_resource() -> None:
    async with peers() as open_peer:
        first = await _negotiate(open_peer, DIRECT_TLS)
        await _login(first, DIRECT_TLS)
        await first.token("bind-resource")
        assert first.stream.full == "romeo@localhost/balcony"
        second = await _negotiate(open_peer, DIRECT_TLS)
        await _login(second, DIRECT_TLS)
        out = await second.token("bind-resource")
        assert b"type='result'" in out
        assert second.stream.full.startswith("romeo@localhost/balcony.")
        assert first.stream.full == "romeo@localhost/balcony"
        assert not first.channel.closed  # the existing session is never kicked
        registry = first.server.registry
        assert registry.get(first.stream.full) is first.stream
        assert registry.get(second.stream.full) is second.stream


async def test_bind_conflict_on_a_longest_resource_still_binds() -> None:
    """A resource may be 1023 bytes (RFC 7622 §3.4); the server's `requested.xxxxxx` for the
    newcomer must stay within that limit instead of crashing the stream."""
    longest = "r" * 1023
    async with peers() as open_peer:
        first = await _negotiate(open_peer, DIRECT_TLS)
        await _login(first, DIRECT_TLS)
        await first.send(bind(longest))
        assert first.stream.state is StreamState.BOUND
        second = await _negotiate(open_peer, DIRECT_TLS)
        await _login(second, DIRECT_TLS)
        out = await second.send(bind(longest))
        assert not second.channel.closed, out
        assert b"type='result'" in out
        assert second.stream.state is StreamState.BOUND
        assert second.stream.full != first.stream.full


@pytest.mark.parametrize(
    "from_",
    ["juliet@localhost", "juliet@localhost/balcony", "romeo@localhost/other", "localhost", "@@"],
)
async def test_forged_from_is_invalid_from(from_: str) -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, DIRECT_TLS)
        await _login(peer, DIRECT_TLS)
        await peer.token("bind-resource")
        await peer.send(b"<message from='" + from_.encode() + b"' to='juliet@localhost'/>")
        assert stream_errors(peer.output) == ["invalid-from"]
        assert peer.channel.closed
        assert_sane(peer)


@pytest.mark.parametrize("from_", ["romeo@localhost", "romeo@localhost/balcony"])
async def test_own_jid_as_from_is_accepted(from_: str) -> None:
    async with peers() as open_peer:
        peer = await _negotiate(open_peer, DIRECT_TLS)
        await _login(peer, DIRECT_TLS)
        await peer.token("bind-resource")
        await peer.send(b"<presence from='" + from_.encode() + b"'/>")
        assert not peer.channel.closed
        assert_sane(peer)


async def test_auth_timeout_is_connection_timeout() -> None:
    async with peers(auth_timeout=0.01) as open_peer:
        peer = await _negotiate(open_peer, DIRECT_TLS)
        await asyncio.sleep(0.05)
        assert stream_errors(peer.output) == ["connection-timeout"]
        assert peer.channel.closed
        assert_sane(peer)


@pytest.mark.parametrize(
    ("restart", "after"),
    [
        pytest.param(["header", "auth-plain-ok"], CLOSE, id="sasl-close-before-header"),
        pytest.param(["header", "auth-plain-ok"], b"\xff garbage", id="sasl-garbage"),
        # the header and the bad element in one read: the header's event is lost with the error
        pytest.param(["header", "auth-plain-ok"], HEADER + b"<a><b></a>", id="sasl-header+bad"),
        pytest.param(["header", "starttls"], b"<message/>", id="tls-stanza-as-root"),
        pytest.param(["header", "starttls"], b"\xff garbage", id="tls-garbage"),
    ],
)
async def test_a_stream_error_on_a_restarted_stream_comes_with_a_new_header(
    restart: list[str], after: bytes
) -> None:
    """After <success/> or <proceed/> the client has reset its parser and waits for a stream
    header (RFC 6120 §4.3.3, §6.4.6); a stream error must then come inside a new
    <stream:stream> (§4.9.1.1), or the client cannot even parse it."""
    transport = STARTTLS if "starttls" in restart else DIRECT_TLS
    async with peers() as open_peer:
        peer = open_peer(transport)
        for step in restart:
            await peer.token(step)
        peer.new_output()
        out = await peer.send(after)
        assert peer.channel.closed
        assert len(stream_errors(peer.output)) == 1
        assert out.startswith((b"<?xml", b"<stream:stream")), out
        assert_sane(peer)


@pytest.mark.parametrize("ending", ["auth-timeout", "connection-lost"])
@pytest.mark.parametrize("login", ["auth-plain-ok", "auth-plain-wrong", "auth-scram-sha-256-ok"])
async def test_a_login_finishing_after_the_stream_ended_writes_nothing(
    ending: str, login: str
) -> None:
    """The account lookup is slow (database, PBKDF2 in a thread); meanwhile the auth timer fires
    or the client goes away. When the lookup returns, the stream must stay closed: nothing
    written to the closed channel, no state change, nothing logged as a crash."""
    with no_errors_logged():
        async with peers(auth_timeout=0.05) as open_peer:
            peer = await _negotiate(open_peer, DIRECT_TLS)
            accounts = cast(FakeAccounts, peer.server.accounts)
            accounts.gate = asyncio.Event()
            await peer.token(login, settle=False)
            for _ in range(5):
                await asyncio.sleep(0)
            if ending == "auth-timeout":
                await asyncio.sleep(0.1)
                assert stream_errors(peer.output) == ["connection-timeout"]
            else:
                peer.channel.closed = True  # the transport is gone, then tells the stream
                peer.stream.connection_lost()
            accounts.gate.set()
            await peer.settle()
            assert not peer.channel.late, peer.channel.late
            assert peer.stream.state is StreamState.CLOSED
            assert peer.stream.authenticated_as is None


async def test_a_tls_handshake_finishing_after_the_stream_ended_leaves_it_closed() -> None:
    with no_errors_logged():
        async with peers(auth_timeout=0.05) as open_peer:
            peer = open_peer(STARTTLS)
            peer.channel.handshake = asyncio.Event()
            await peer.token("header")
            await peer.token("starttls", settle=False)
            await asyncio.sleep(0.1)
            assert stream_errors(peer.output) == ["connection-timeout"]
            peer.channel.handshake.set()
            await peer.settle()
            assert peer.stream.state is StreamState.CLOSED
            assert not peer.channel.late, peer.channel.late
