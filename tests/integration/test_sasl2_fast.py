"""SASL2 (XEP-0388), Bind 2 (XEP-0386), inline resumption (XEP-0198) and FAST (XEP-0484), element
by element over real TLS streams (`tests.integration.xmpp_raw`).

Juliet is the phone: she authenticates with ``<authenticate>`` (SCRAM-SHA-256, whose server
signature the test checks itself, or PLAIN), binds inline with stream management and carbons,
drops her connection and resumes inline with nothing lost, gets a FAST token and logs in with
it in one round trip. Romeo writes to her over a legacy SASL1 stream.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from xml.etree.ElementTree import Element

import pytest
from sqlalchemy import select

from tests.integration.xmpp_raw import HEADER, SM, STREAMS, RawClient
from tests.server_fixtures import PASSWORD, RunningServer
from xmpp_video.auth import ht
from xmpp_video.core.c2s import C2SStream
from xmpp_video.jid import JID
from xmpp_video.storage.engine import session_factory
from xmpp_video.storage.models import FastTokenRow

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
]

SASL2 = "urn:xmpp:sasl:2"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND2 = "urn:xmpp:bind:0"
FAST = "urn:xmpp:fast:0"
CSI = "urn:xmpp:csi:0"
CARBONS = "urn:xmpp:carbons:2"
MESSAGE = "{jabber:client}message"
PHONE_ID = "2f5b3c8e-7d1a-4c55-9f0e-1a2b3c4d5e6f"
AGENT = (
    f"<user-agent id='{PHONE_ID}'><software>Raw</software><device>test phone</device></user-agent>"
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@asynccontextmanager
async def opened(server: RunningServer) -> AsyncIterator[tuple[RawClient, Element]]:
    """A raw client whose stream is open: it and the pre-authentication features."""
    client = await RawClient.connect(server)
    try:
        client.send(HEADER)
        features, _ = await client.until(f"{{{STREAMS}}}features")
        yield client, features
    finally:
        client.close()


def authenticate(mechanism: str | None, initial: bytes | None, *inline: str) -> str:
    mech = "" if mechanism is None else f" mechanism='{mechanism}'"
    ir = "" if initial is None else f"<initial-response>{b64(initial)}</initial-response>"
    return f"<authenticate xmlns='{SASL2}'{mech}>{ir}{''.join(inline)}</authenticate>"


def plain(local: str, password: str = PASSWORD) -> bytes:
    return f"\0{local}\0{password}".encode()


def bind(tag: str = "Raw", *features: str) -> str:
    return f"<bind xmlns='{BIND2}'><tag>{tag}</tag>{''.join(features)}</bind>"


def failure_condition(el: Element) -> str:
    assert el.tag == f"{{{SASL2}}}failure", el.tag
    (condition,) = [c.tag for c in el if c.tag.startswith(f"{{{SASL}}}")]
    return condition.partition("}")[2]


class ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802), enough to check the server's signature."""

    def __init__(self, user: str, password: str) -> None:
        self.password = password
        self.nonce = secrets.token_urlsafe(18)
        self.first_bare = f"n={user},r={self.nonce}"
        self.server_signature = b""

    def first(self) -> bytes:
        return f"n,,{self.first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        fields = dict(part.split("=", 1) for part in server_first.decode().split(","))
        assert fields["r"].startswith(self.nonce)
        salted = hashlib.pbkdf2_hmac(
            "sha256", self.password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c={b64(b'n,,')},r={fields['r']}"
        auth_message = f"{self.first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self.server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{without_proof},p={b64(proof)}".encode()


def session(server: RunningServer, full: str) -> C2SStream:
    found = server.server.registry.get(full)
    assert isinstance(found, C2SStream), full
    return found


# -- SASL2 + Bind 2 ----------------------------------------------------------------------------


async def test_features_offer_sasl2_with_inline_bind2_sm_and_fast(
    xmpp_server: RunningServer,
) -> None:
    async with opened(xmpp_server) as (_client, features):
        auth = features.find(f"{{{SASL2}}}authentication")
        assert auth is not None
        mechanisms = [m.text for m in auth.findall(f"{{{SASL2}}}mechanism")]
        assert mechanisms == ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "OAUTHBEARER"]
        inline = auth.find(f"{{{SASL2}}}inline")
        assert inline is not None
        bind2 = inline.find(f"{{{BIND2}}}bind")
        assert bind2 is not None
        offered = {f.get("var") for f in bind2.iter(f"{{{BIND2}}}feature")}
        assert {SM, CSI, CARBONS} <= offered
        assert inline.find(f"{{{SM}}}sm") is not None
        fast = inline.find(f"{{{FAST}}}fast")
        assert fast is not None
        assert [m.text for m in fast] == ["HT-SHA-256-NONE"]


async def test_scram_sha256_with_bind2_sm_and_carbons(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with opened(xmpp_server) as (juliet, _):
        scram = ScramClient("juliet", PASSWORD)
        inline = bind(
            "Raw", f"<enable xmlns='{SM}' resume='true'/>", f"<enable xmlns='{CARBONS}'/>"
        )
        juliet.send(authenticate("SCRAM-SHA-256", scram.first(), AGENT, inline))
        challenge = await juliet.next()
        assert challenge.tag == f"{{{SASL2}}}challenge"
        final = scram.final(base64.b64decode(challenge.text or ""))
        juliet.send(f"<response xmlns='{SASL2}'>{b64(final)}</response>")
        success = await juliet.next()
        assert success.tag == f"{{{SASL2}}}success", success
        # the server proved it knows the password's keys (RFC 5802 server-final-message)
        additional = base64.b64decode(success.findtext(f"{{{SASL2}}}additional-data") or "")
        assert additional == b"v=" + base64.b64encode(scram.server_signature)
        full = success.findtext(f"{{{SASL2}}}authorization-identifier") or ""
        assert full.startswith("juliet@localhost/Raw/")
        enabled = success.find(f"{{{BIND2}}}bound/{{{SM}}}enabled")
        assert enabled is not None
        assert enabled.get("resume") == "true"
        assert enabled.get("id")
        # no stream restart: the features of a bound stream follow at once, without bind or sm
        features = await juliet.next()
        assert features.tag == f"{{{STREAMS}}}features"
        tags = [child.tag for child in features]
        assert f"{{{CSI}}}csi" in tags
        assert f"{{{SM}}}sm" not in tags
        assert "{urn:ietf:params:xml:ns:xmpp-bind}bind" not in tags
        stream = session(xmpp_server, full)
        assert stream.carbons
        assert stream.sm is not None
        juliet.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        pong = await juliet.next()
        assert pong.get("type") == "result"
        assert pong.get("id") == "p1"
        juliet.send(f"<r xmlns='{SM}'/>")
        ack, _ = await juliet.until(f"{{{SM}}}a")
        assert ack.get("h") == "1"

    # the same client (user-agent id and tag) gets the same resource next time
    async with opened(xmpp_server) as (again, _):
        again.send(authenticate("PLAIN", plain("juliet"), AGENT, bind()))
        success = await again.next()
        assert success.findtext(f"{{{SASL2}}}authorization-identifier") == full


async def test_plain_without_bind_then_legacy_bind(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with opened(xmpp_server) as (juliet, _):
        juliet.send(authenticate("PLAIN", plain("juliet")))
        success = await juliet.next()
        assert success.findtext(f"{{{SASL2}}}authorization-identifier") == "juliet@localhost"
        assert success.find(f"{{{SASL2}}}additional-data") is None
        features = await juliet.next()
        assert features.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
        assert await juliet.bind("desk") == "juliet@localhost/desk"


@pytest.mark.parametrize(
    ("request_", "condition"),
    [
        (authenticate("PLAIN", plain("juliet", "wrong password")), "not-authorized"),
        (authenticate("PLAIN", plain("nobody")), "not-authorized"),
        (authenticate(None, plain("juliet")), "malformed-request"),
        (authenticate("DIGEST-MD5", b"x"), "invalid-mechanism"),
        (
            f"<authenticate xmlns='{SASL2}' mechanism='PLAIN'>"
            "<initial-response>not base64!</initial-response></authenticate>",
            "incorrect-encoding",
        ),
        (authenticate("PLAIN", plain("juliet"), "<user-agent id=''/>"), "malformed-request"),
        (authenticate("HT-SHA-256-NONE", b"juliet"), "malformed-request"),
    ],
)
async def test_failures(xmpp_server: RunningServer, request_: str, condition: str) -> None:
    await xmpp_server.add_user("juliet")
    async with opened(xmpp_server) as (juliet, _):
        juliet.send(request_)
        assert failure_condition(await juliet.next()) == condition
        # the stream stays usable: the client may try again
        juliet.send(authenticate("PLAIN", plain("juliet"), bind()))
        success = await juliet.next()
        assert success.tag == f"{{{SASL2}}}success"


async def test_abort_and_a_second_authenticate_after_success(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with opened(xmpp_server) as (juliet, _):
        juliet.send(authenticate("SCRAM-SHA-256", ScramClient("juliet", PASSWORD).first()))
        assert (await juliet.next()).tag == f"{{{SASL2}}}challenge"
        juliet.send(f"<abort xmlns='{SASL2}'/>")
        assert failure_condition(await juliet.next()) == "aborted"
        juliet.send(authenticate("PLAIN", plain("juliet"), bind()))
        assert (await juliet.next()).tag == f"{{{SASL2}}}success"
        await juliet.next()  # features
        juliet.send(authenticate("PLAIN", plain("juliet")))  # XEP-0388: a stream error
        rest = await juliet.rest()
        assert any(el.tag == f"{{{STREAMS}}}error" for el in rest)


# -- inline resumption -------------------------------------------------------------------------


async def test_inline_resume_loses_nothing(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    await xmpp_server.add_user("romeo")
    romeo = await RawClient.connect(xmpp_server)
    try:
        await romeo.login("romeo")
        async with opened(xmpp_server) as (juliet, _):
            inline = bind("Raw", f"<enable xmlns='{SM}' resume='true'/>")
            juliet.send(authenticate("PLAIN", plain("juliet"), AGENT, inline))
            success = await juliet.next()
            full = success.findtext(f"{{{SASL2}}}authorization-identifier") or ""
            enabled = success.find(f"{{{BIND2}}}bound/{{{SM}}}enabled")
            assert enabled is not None
            previd = enabled.get("id")
            await juliet.next()  # features
            for i in range(3):
                romeo.send(f"<message to='{full}' type='chat'><body>m{i}</body></message>")
            for _ in range(3):
                await juliet.until(MESSAGE)
            juliet.send(f"<a xmlns='{SM}' h='1'/>")  # she acknowledges only the first
            await juliet.quiet(0.2)
            juliet.abort()
        stream = session(xmpp_server, full)
        await _until(lambda: stream.hibernating)
        for i in range(3, 5):
            romeo.send(f"<message to='{full}' type='chat'><body>m{i}</body></message>")
        await _until(lambda: stream.sm is not None and len(stream.sm.unacked) == 4)

        async with opened(xmpp_server) as (phone, _):
            resume = f"<resume xmlns='{SM}' previd='{previd}' h='1'/>"
            phone.send(authenticate("PLAIN", plain("juliet"), AGENT, resume, bind()))
            success = await phone.next()
            assert success.tag == f"{{{SASL2}}}success"
            assert success.findtext(f"{{{SASL2}}}authorization-identifier") == full
            resumed = success.find(f"{{{SM}}}resumed")
            assert resumed is not None
            assert resumed.get("previd") == previd
            assert success.find(f"{{{BIND2}}}bound") is None  # binding was skipped
            features = await phone.next()
            assert features.tag == f"{{{STREAMS}}}features"
            got: list[str | None] = []
            while len(got) < 4:
                el = await phone.next()
                if el.tag == MESSAGE:
                    got.append(el.findtext("{jabber:client}body"))
            assert got == ["m1", "m2", "m3", "m4"]
            assert session(xmpp_server, full) is stream
            assert not stream.hibernating
            romeo.send(f"<message to='{full}' type='chat'><body>after</body></message>")
            after, _ = await phone.until(MESSAGE)
            assert after.findtext("{jabber:client}body") == "after"
            # and the resumed stream reads again (it was paused while SASL2 completed)
            phone.send("<iq type='get' id='p9'><ping xmlns='urn:xmpp:ping'/></iq>")
            pong, _ = await phone.until("{jabber:client}iq")
            assert pong.get("id") == "p9"
    finally:
        romeo.close()


async def test_failed_inline_resume_binds_instead(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with opened(xmpp_server) as (juliet, _):
        resume = f"<resume xmlns='{SM}' previd='no-such-session' h='0'/>"
        juliet.send(authenticate("PLAIN", plain("juliet"), resume, bind("Raw")))
        success = await juliet.next()
        failed = success.find(f"{{{SM}}}failed")
        assert failed is not None
        assert failed.find("{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None
        assert success.find(f"{{{BIND2}}}bound") is not None
        full = success.findtext(f"{{{SASL2}}}authorization-identifier") or ""
        assert full.startswith("juliet@localhost/Raw/")


# -- FAST --------------------------------------------------------------------------------------


async def _get_token(server: RunningServer, agent: str = AGENT) -> tuple[str, str]:
    async with opened(server) as (juliet, _):
        request = f"<request-token xmlns='{FAST}' mechanism='HT-SHA-256-NONE'/>"
        juliet.send(authenticate("PLAIN", plain("juliet"), agent, bind(), request))
        success = await juliet.next()
        token = success.find(f"{{{FAST}}}token")
        assert token is not None, success
        return token.get("token", ""), token.get("expiry", "")


async def _fast(server: RunningServer, token: str, fast: str = "", agent: str = AGENT) -> Element:
    async with opened(server) as (juliet, _):
        proof = b"juliet\0" + ht.initiator(token)
        fast_el = f"<fast xmlns='{FAST}' {fast}/>"
        juliet.send(authenticate("HT-SHA-256-NONE", proof, agent, bind(), fast_el))
        return await juliet.next()


async def test_fast_token_login_replay_and_invalidation(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    token, expiry = await _get_token(xmpp_server)
    assert len(token) >= 40
    assert expiry.endswith("Z")

    # stored hashed: no column holds the token
    async with session_factory(xmpp_server.server.storage.engine)() as db:
        (row,) = (await db.scalars(select(FastTokenRow))).all()
    assert row.owner == "juliet@localhost"
    assert row.client_id == PHONE_ID
    assert row.verifier == hashlib.sha256(ht.initiator(token)).digest()
    for value in (row.verifier, row.responder, row.client_id.encode(), row.mechanism.encode()):
        assert token.encode() not in value

    success = await _fast(xmpp_server, token, "count='1'")
    assert success.tag == f"{{{SASL2}}}success", success
    additional = base64.b64decode(success.findtext(f"{{{SASL2}}}additional-data") or "")
    assert additional == ht.responder(token)  # the server proves it knew the token
    assert (success.findtext(f"{{{SASL2}}}authorization-identifier") or "").startswith(
        "juliet@localhost/Raw/"
    )
    # a replay (count not increasing) is refused, a higher count is not
    assert failure_condition(await _fast(xmpp_server, token, "count='1'")) == "not-authorized"
    assert (await _fast(xmpp_server, token, "count='2'")).tag == f"{{{SASL2}}}success"
    # another client (user-agent id) cannot use it
    other = "<user-agent id='someone-else'/>"
    assert failure_condition(await _fast(xmpp_server, token, "count='3'", other)) == (
        "not-authorized"
    )
    # log out: <fast invalidate='true'> succeeds once, then the token is dead
    assert (await _fast(xmpp_server, token, "count='4' invalidate='true'")).tag == (
        f"{{{SASL2}}}success"
    )
    assert failure_condition(await _fast(xmpp_server, token, "count='5'")) == "not-authorized"


async def test_password_change_revokes_fast_tokens(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("juliet")
    token, _ = await _get_token(xmpp_server)
    assert (await _fast(xmpp_server, token)).tag == f"{{{SASL2}}}success"
    await xmpp_server.server.accounts.set_password(JID.parse(jid), "a brand new password")
    assert failure_condition(await _fast(xmpp_server, token)) == "not-authorized"


async def test_fast_needs_encryption_and_a_token_request_needs_a_client_id(
    xmpp_server: RunningServer,
) -> None:
    await xmpp_server.add_user("juliet")
    async with opened(xmpp_server) as (juliet, _):
        request = f"<request-token xmlns='{FAST}' mechanism='HT-SHA-256-NONE'/>"
        juliet.send(authenticate("PLAIN", plain("juliet"), bind(), request))  # no user-agent
        success = await juliet.next()
        assert success.tag == f"{{{SASL2}}}success"
        assert success.find(f"{{{FAST}}}token") is None


async def _until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_fast_tokens_never_reach_the_logs(
    xmpp_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    await xmpp_server.add_user("juliet")
    with caplog.at_level(logging.DEBUG):
        token, _ = await _get_token(xmpp_server)
        assert (await _fast(xmpp_server, token, "count='1'")).tag == f"{{{SASL2}}}success"
    proof = ht.initiator(token)
    secrets_ = {token, b64(token.encode()), b64(proof), proof.hex(), b64(b"juliet\0" + proof)}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "FAST token for juliet@localhost" in logged
    for secret in secrets_:
        assert secret not in logged
