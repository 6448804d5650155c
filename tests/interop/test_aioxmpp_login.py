"""aioxmpp (a second independent client stack) logs in: each SASL mechanism, both TLS variants.

Real sockets, real TLS (aioxmpp's PKIX verifier with the server's certificate as trust anchor), on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosasl
import aioxmpp
import aioxmpp.errors
import OpenSSL.SSL
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.interop.aiox import OneMechanism, connected, make_client, start
from tests.server_fixtures import PASSWORD, RunningServer

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
async def test_login_with_each_mechanism(xmpp_server: RunningServer, mechanism: str) -> None:
    jid = await xmpp_server.add_user("romeo")
    sasl = OneMechanism(mechanism, PASSWORD)
    async with connected(xmpp_server, jid, sasl=sasl, presence=False) as romeo:
        assert romeo.jid.bare() == aioxmpp.JID.fromstr(jid)
        assert romeo.jid.resource
        assert sasl.used == mechanism
        assert {"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} <= set(sasl.offered)


async def test_requested_resource_is_bound(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, resource="balcony", presence=False) as romeo:
        assert str(romeo.jid) == f"{jid}/balcony"


@pytest.mark.parametrize("mechanism", [None, "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
async def test_wrong_password_is_not_authorized(
    xmpp_server: RunningServer, mechanism: str | None
) -> None:
    jid = await xmpp_server.add_user("romeo")
    client = make_client(xmpp_server, jid, "wrong password", mechanism=mechanism)
    # aioxmpp 0.13 has no aioxmpp.errors.AuthenticationFailure: it raises aiosasl's
    with pytest.raises(aiosasl.AuthenticationFailure) as failure:
        await start(client)
    assert failure.value.opaque_error == "not-authorized"
    assert not client.established


async def test_unknown_user_is_not_authorized(xmpp_server: RunningServer) -> None:
    client = make_client(xmpp_server, f"nobody@{xmpp_server.domain}")
    with pytest.raises(aiosasl.AuthenticationFailure) as failure:
        await start(client)
    assert failure.value.opaque_error == "not-authorized"


async def test_direct_tls_login(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, direct_tls=True) as romeo:
        assert romeo.jid.bare() == aioxmpp.JID.fromstr(jid)
        assert romeo.client.established


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct_tls"])
async def test_other_certificate_is_refused(
    xmpp_server: RunningServer, tmp_path: Path, direct_tls: bool
) -> None:
    """The helper's TLS verification is real: trusting another "localhost" certificate fails."""
    jid = await xmpp_server.add_user("romeo")
    client = make_client(
        xmpp_server, jid, direct_tls=direct_tls, cafile=_other_localhost_certificate(tmp_path)
    )
    with pytest.raises(OpenSSL.SSL.Error):
        await start(client)
    assert not client.established


def _other_localhost_certificate(directory: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "other-localhost.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path
