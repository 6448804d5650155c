"""``xmpp-video calls list|terminate|stats`` as an operator runs them: a real process talking to
a running server (in the test's process, reached with --url or its HTTP_PORT; or a separate
``xmpp-video serve`` reached through the shared configuration alone)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.interop.jingle_peer import call_peer
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.config import Settings
from xmpp_video.storage.repositories import CallRecord

CLI = [sys.executable, "-m", "xmpp_video.cli.main"]
SETTING_NAMES = {name.upper() for name in Settings.__dataclass_fields__}


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The test's environment without any xmpp-video setting, plus these."""
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES and k != "XMPP_VIDEO_ENV"}
    env.update(DATA_DIR=str(data_dir), **extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CLI + args, env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a thread: the server it talks to runs in this event loop."""
    return await asyncio.to_thread(_run, args, env)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert result.stderr.startswith("xmpp-video: "), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _record(server: RunningServer, call_id: str, state: str) -> CallRecord:
    async with asyncio.timeout(10):
        while True:
            record = await server.server.storage.calls.get(call_id)
            if record is not None and record.state == state:
                return record
            await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_calls_commands_against_a_running_server(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, ring_timeout=30)
    async with running_server(settings) as server:
        await server.add_user("alice")
        await server.add_user("bob")
        # the same DATA_DIR, hence the same generated JWT secret as the server's
        env = _env(tmp_path)
        url = ["--url", server.http_url]
        empty = await cli(["calls", "list", *url], env)
        assert (empty.returncode, empty.stdout) == (0, "no active calls\n"), empty.stderr
        async with (
            call_peer(server, "alice@localhost", resource="tablet") as alice,
            call_peer(server, "bob@localhost", resource="phone") as bob,
        ):
            call_id = alice.propose("bob@localhost", media=("audio", "video"))
            await bob.next_jmi("propose", call_id=call_id)
            bob.proceed(alice.jid, call_id)
            await alice.next_jmi("proceed", call_id=call_id)
            await _record(server, call_id, "accepted")

            listed = await cli(["calls", "list", *url], env)
            assert listed.returncode == 0, listed.stderr
            assert call_id in listed.stdout
            assert f"{alice.jid} → bob@localhost" in listed.stdout
            as_json = json.loads((await cli(["calls", "list", "--json", *url], env)).stdout)
            assert [(c["call_id"], c["state"]) for c in as_json] == [(call_id, "accepted")]
            assert as_json[0]["answered_by"] == bob.jid

            unknown = await cli(["calls", "terminate", "no-such-call", *url], env)
            assert "no live call no-such-call" in _one_line_error(unknown)

            ended = await cli(["calls", "terminate", call_id, *url], env)
            assert ended.returncode == 0, ended.stderr
            assert ended.stdout.startswith(f"call {call_id} ended (ended_by cli:")
            for peer, other in ((alice, bob), (bob, alice)):
                finish = await peer.next_jmi("finish", call_id=call_id, from_=other.jid)
                assert finish.reason_text == "terminated_by_admin"
            record = await _record(server, call_id, "ended")
            assert record.end_reason == "terminated_by_admin"
            assert (record.ended_by or "").startswith("cli:")

        stats = await cli(["calls", "stats", "--hours", "1", *url], env)
        assert stats.returncode == 0, stats.stderr
        assert "calls        1 (answered 1, live 0)" in stats.stdout
        assert "answer rate  100.0 %" in stats.stdout
        assert "terminated_by_admin 1" in stats.stdout
        as_json = json.loads((await cli(["calls", "stats", "--json", *url], env)).stdout)
        assert as_json["outcomes"]["terminated_by_admin"] == 1
        bad = await cli(["calls", "stats", "--hours", "0", *url], env)
        assert "hours must be between 1 and" in _one_line_error(bad)

        # HTTP_PORT from the configuration instead of --url
        by_port = await cli(["calls", "list"], _env(tmp_path, HTTP_PORT=str(server.http_port)))
        assert (by_port.returncode, by_port.stdout) == (0, "no active calls\n"), by_port.stderr

        # a configuration with another secret is refused, in one line
        other = await cli(["calls", "list", *url], _env(tmp_path, JWT_SECRET="o" * 40))
        assert "refused the admin token" in _one_line_error(other)


def test_no_server_is_one_clear_line(tmp_path: Path) -> None:
    port = str(_free_port())
    for args, env in (
        (["calls", "list"], _env(tmp_path, HTTP_PORT=port)),
        (["calls", "terminate", "x", "--url", f"http://127.0.0.1:{port}"], _env(tmp_path)),
        (["calls", "stats"], _env(tmp_path, HTTP_PORT=port)),
    ):
        result = _run(args, env)
        assert "no xmpp-video server answers at http://127.0.0.1:" in _one_line_error(result)
    off = _run(["calls", "list"], _env(tmp_path, HTTP_PORT="0"))
    assert "--url" in _one_line_error(off)


@pytest.mark.asyncio
async def test_calls_list_reaches_a_served_process(tmp_path: Path) -> None:
    """``xmpp-video serve`` in one process, ``xmpp-video calls list`` in another: they share
    only the configuration (DATA_DIR with the generated secret, HTTP_PORT)."""
    http_port = _free_port()
    env = _env(
        tmp_path / "var",
        C2S_PORT=str(_free_port()),
        C2S_TLS_PORT=str(_free_port()),
        HTTP_PORT=str(http_port),
        HTTPS_PORT="0",
        BIND_HOST="127.0.0.1",
        SHUTDOWN_TIMEOUT="5",
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - starting does not block
            [*CLI, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                assert proc.poll() is None, log_path.read_text()
                await asyncio.sleep(0.2)
        listed = await cli(["calls", "list"], env)
        assert (listed.returncode, listed.stdout) == (0, "no active calls\n"), listed.stderr
        stats = await cli(["calls", "stats"], env)
        assert stats.returncode == 0, stats.stderr
        assert "calls        0 (answered 0, live 0)" in stats.stdout
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
