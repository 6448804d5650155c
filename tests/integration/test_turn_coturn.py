"""A real coturn accepts `xmpp_video.turn` credentials and refuses tampered or expired ones.

The module starts ``turnserver`` once, on loopback and free ports, with the repository's
``turnserver.conf`` minus what a one-machine test must change (listeners, secret, realm, log,
pid and database files in a temp directory, loopback peers allowed). ``turnutils_uclient``
(shipped with coturn) then allocates with the credentials: ``-y`` makes two clients allocate a
relay each and send UDP packets to each other through both relays, so a success means the
allocation, the permission and the relayed data all worked.

End to end, the credentials our running server hands out open a relay too: over the HTTP API
(`/api/turn/credentials`) and over XMPP (XEP-0215 external service discovery, from slixmpp).

Needs coturn (``apt-get install coturn``; ``.ci/run`` installs it): skipped without it,
failed under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.http.jsonclient import access_token, json_client
from tests.interop import extdisco
from tests.interop.json_webrtc import JsonWebRtc, ice_servers
from tests.interop.slix import connected
from tests.server_fixtures import PASSWORD, make_settings, running_server
from xmpp_video.turn import TurnCredentials, turn_credentials

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONF = ROOT / "turnserver.conf"
HOST = "127.0.0.1"
USER = "alice@localhost"
REALM = "xmpp-video.test"
START_TIMEOUT_S = 10.0
CLIENT_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0

# turnserver.conf keys the test replaces (every occurrence) with its own values
OVERRIDDEN = frozenset(
    {
        "listening-port",
        "listening-ip",
        "relay-ip",
        "external-ip",
        "tls-listening-port",
        "static-auth-secret",
        "realm",
        "denied-peer-ip",
        "log-file",
        "pidfile",
        "userdb",
    }
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@dataclass(frozen=True)
class Coturn:
    port: int
    secret: str
    log: Path

    def credentials(
        self, *, now: float | None = None, secret: str | None = None
    ) -> TurnCredentials:
        return turn_credentials(
            self.secret if secret is None else secret,
            USER,
            600,
            [f"turn:{HOST}:{self.port}?transport=udp"],
            time.time() if now is None else now,
        )

    def uclient(self, username: str, password: str) -> subprocess.CompletedProcess[str]:
        """One UDP client pair (-y), no RTCP (-c), one 50-byte message each way."""
        command = ["turnutils_uclient", "-v", "-y", "-c", "-n", "1", "-m", "1", "-l", "50"]
        command += ["-p", str(self.port), "-u", username, "-w", password, HOST]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )


def derived_config(port: int, secret: str, tmp: Path) -> str:
    """The shipped turnserver.conf with loopback test values instead of OVERRIDDEN keys."""
    kept = []
    for line in SHIPPED_CONF.read_text(encoding="utf-8").splitlines():
        key = line.split("=", 1)[0].strip()
        if line.lstrip().startswith("#") or key not in OVERRIDDEN:
            kept.append(line)
    kept += [
        "# --- test overrides ---",
        f"listening-ip={HOST}",
        f"relay-ip={HOST}",
        f"listening-port={port}",
        f"static-auth-secret={secret}",
        f"realm={REALM}",
        "allow-loopback-peers",
        f"log-file={tmp / 'turnserver.log'}",
        "no-stdout-log",
        f"pidfile={tmp / 'turnserver.pid'}",
        f"userdb={tmp / 'turndb'}",
    ]
    return "\n".join(kept) + "\n"


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on HOST (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for both UDP and TCP")


def stun_binding_answered(port: int) -> bool:
    """Send a STUN Binding request (RFC 5389) over UDP; True if a success response comes."""
    transaction = secrets.token_bytes(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(request, (HOST, port))
            answer = sock.recv(2048)
        except OSError:  # timeout, or ICMP port unreachable while coturn starts
            return False
    return answer[:2] == b"\x01\x01" and answer[8:20] == transaction


def stop_by_pid(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    missing = [t for t in ("turnserver", "turnutils_uclient") if shutil.which(t) is None]
    if missing:
        reason = f"coturn is not installed ({', '.join(missing)} missing; apt-get install coturn)"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: coturn is required)")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("coturn")
    port = free_udp_tcp_port()
    secret = secrets.token_hex(16)
    conf = tmp / "turnserver.conf"
    conf.write_text(derived_config(port, secret, tmp), encoding="utf-8")
    server = Coturn(port, secret, tmp / "turnserver.log")
    with (tmp / "stdout.log").open("wb") as stdout:
        process = subprocess.Popen(
            ["turnserver", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not stun_binding_answered(port):
            if process.poll() is not None:
                pytest.fail(f"turnserver exited with {process.returncode}: {_log_tail(server)}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"turnserver not answering after {START_TIMEOUT_S}s: {_log_tail(server)}"
                )
            time.sleep(0.05)
        yield server
    finally:
        stop_by_pid(process)


def _log_tail(server: Coturn) -> str:
    try:
        return server.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def _relayed_messages(output: str) -> tuple[int, int]:
    match = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", output, re.MULTILINE)
    assert match, output[-3000:]
    return int(match[1]), int(match[2])


def test_shipped_config_uses_the_turn_rest_api_scheme() -> None:
    lines = SHIPPED_CONF.read_text(encoding="utf-8").splitlines()
    active = {line.split("=", 1)[0].strip() for line in lines if not line.startswith("#")}
    assert {"use-auth-secret", "static-auth-secret", "realm", "fingerprint", "no-cli"} <= active
    assert {"no-multicast-peers", "denied-peer-ip", "listening-port"} <= active
    assert "listening-port=3478" in lines
    assert "#tls-listening-port=5349" in lines
    assert "allow-loopback-peers" not in active


def test_allocation_succeeds_with_issued_credentials(coturn: Coturn) -> None:
    creds = coturn.credentials()
    assert creds.username.endswith(f":{USER}")
    result = coturn.uclient(creds.username, creds.password)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:] + _log_tail(coturn)
    assert "Received relay addr: 127.0.0.1:" in output
    sent, received = _relayed_messages(output)
    assert sent > 0
    assert received > 0


def _tampered(password: str) -> str:
    mac = bytearray(base64.b64decode(password))
    mac[0] ^= 0x01
    return base64.b64encode(bytes(mac)).decode()


@pytest.mark.parametrize("case", ["tampered-password", "expired-username", "other-secret"])
def test_allocation_refused(coturn: Coturn, case: str) -> None:
    if case == "tampered-password":
        valid = coturn.credentials()
        username, password = valid.username, _tampered(valid.password)
    elif case == "expired-username":
        expired = coturn.credentials(now=time.time() - 3600)  # expired 50 minutes ago
        assert expired.expires < time.time()
        username, password = expired.username, expired.password
    else:
        forged = coturn.credentials(secret=coturn.secret + "x")
        username, password = forged.username, forged.password
    result = coturn.uclient(username, password)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    # coturn answered (with 401 errors), so the refusal is about the credentials
    assert "allocate response received" in output, output[-3000:]
    assert "Cannot complete Allocation" in output, output[-3000:]
    assert "Received relay addr" not in output


@pytest.mark.asyncio
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_http_api_credentials_open_a_relay(
    coturn: Coturn, tmp_path: Path, database_url: str
) -> None:
    """End to end: log in over HTTP, fetch /api/turn/credentials from our server configured
    with coturn's secret, allocate a relay with exactly what it returned."""
    settings = make_settings(
        tmp_path,
        database_url,
        turn_secret=coturn.secret,
        turn_uris=f"turn:{HOST}:{coturn.port}?transport=udp",
    )
    async with running_server(settings) as server:
        await server.add_user("alice")
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            login = await http.post(
                "/api/auth/login", json={"username": "alice", "password": PASSWORD}
            )
            token = login.json()["access_token"]
            response = await http.get(
                "/api/turn/credentials", headers={"authorization": f"Bearer {token}"}
            )
    assert response.status_code == 200, response.text
    creds = response.json()
    assert creds["uris"] == [f"turn:{HOST}:{coturn.port}?transport=udp"]
    assert creds["username"].endswith(":alice@localhost")
    result = await asyncio.to_thread(coturn.uclient, creds["username"], creds["password"])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:] + _log_tail(coturn)
    assert "Received relay addr: 127.0.0.1:" in output


@pytest.mark.asyncio
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_xep0215_credentials_open_a_relay(
    coturn: Coturn, tmp_path: Path, database_url: str
) -> None:
    """End to end: log in with slixmpp, discover the TURN service with XEP-0215 (the list, then
    a credentials request), allocate a relay with exactly what the server returned; the same
    username with a tampered password is refused."""
    uri = f"turn:{HOST}:{coturn.port}?transport=udp"
    settings = make_settings(tmp_path, database_url, turn_secret=coturn.secret, turn_uris=uri)
    async with running_server(settings) as server:
        jid = await server.add_user("alice")
        async with connected(server, jid, presence=False) as alice:
            listed = await extdisco.services(alice, server.domain)
            asked = await extdisco.credentials(
                alice, server.domain, type="turn", host=HOST, port=str(coturn.port)
            )
    assert jid == USER
    for answer in (listed, asked):
        assert len(answer) == 1, answer
        service = answer[0]
        assert (service["type"], service["host"], service["port"], service["transport"]) == (
            "turn",
            HOST,
            str(coturn.port),
            "udp",
        )
        assert service["restricted"] == "1"
        # the one credential function of the HTTP API: same username scheme, same HMAC
        expiry = int(service["username"].partition(":")[0])
        same = turn_credentials(
            coturn.secret, USER, settings.turn_ttl, [uri], expiry - settings.turn_ttl
        )
        assert (service["username"], service["password"]) == (same.username, same.password)
        result = await asyncio.to_thread(coturn.uclient, service["username"], service["password"])
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:] + _log_tail(coturn)
        assert "Received relay addr: 127.0.0.1:" in output
    service = listed[0]
    refused = await asyncio.to_thread(
        coturn.uclient, service["username"], _tampered(service["password"])
    )
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output[-3000:]
    assert "Cannot complete Allocation" in output, output[-3000:]
    assert "Received relay addr" not in output


@pytest.mark.asyncio
@pytest.mark.timeout(90)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_json_clients_call_through_turn_only(
    coturn: Coturn, tmp_path: Path, database_url: str
) -> None:
    """Two JSON clients with relay-only ICE, TURN credentials from /api/turn/credentials: the
    media goes through the real coturn, and both decode frames."""
    settings = make_settings(
        tmp_path,
        database_url,
        turn_secret=coturn.secret,
        turn_uris=f"turn:{HOST}:{coturn.port}?transport=udp",
    )
    async with running_server(settings) as server:
        await server.add_user("alice")
        await server.add_user("bob")
        async with json_client(server, "alice") as a, json_client(server, "bob") as b:
            configs = []
            for user in ("alice", "bob"):
                token = await access_token(server, user)
                async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
                    response = await http.get(
                        "/api/turn/credentials", headers={"authorization": f"Bearer {token}"}
                    )
                configs.append(ice_servers(response.json(), relay_only=True))
            alice, bob = JsonWebRtc(a, configs[0]), JsonWebRtc(b, configs[1])
            try:
                answering = asyncio.create_task(bob.answer())
                call_id = await alice.call("bob", video=True)
                assert await answering == call_id
                for side in (alice, bob):
                    sdp = side.pc.localDescription.sdp
                    kinds = {
                        line.split(" typ ")[1].split()[0]
                        for line in sdp.splitlines()
                        if line.startswith("a=candidate:")
                    }
                    assert kinds == {"relay"}, sdp
                await asyncio.gather(alice.connected(30), bob.connected(30))
                await asyncio.gather(alice.frames(5, 5), bob.frames(5, 5))
                await a.send(type="call_end", call_id=call_id)
                await b.next("call_ended", call_id=call_id)
            finally:
                await alice.close()
                await bob.close()
