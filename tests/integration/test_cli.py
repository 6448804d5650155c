"""The `xmpp-video` command as an operator uses it: real processes, real databases."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.interop.slix import connected

CLI = [sys.executable, "-m", "xmpp_video.cli.main"]


def _env(tmp_path: Path, database_url: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XMPP_", "C2S_"))}
    env.update(DATA_DIR=str(tmp_path / "var"), XMPP_DOMAIN="localhost", **extra)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CLI + args, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_user_lifecycle(tmp_path: Path, migrated_database_url: str) -> None:
    env = _env(tmp_path, migrated_database_url)
    added = run(["user", "add", "alice@localhost", "--password", "s3cret"], env)
    assert added.returncode == 0, added.stderr
    assert run(["user", "add", "bob", "--password", "x"], env).returncode == 0
    listed = run(["user", "list"], env)
    assert listed.stdout.split() == ["alice@localhost", "bob@localhost"]
    again = run(["user", "add", "alice@localhost", "--password", "other"], env)
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0
    assert "already exists" in again.stderr
    changed = run(["user", "passwd", "alice@localhost"], env, stdin="new password\n")
    assert changed.returncode == 0, changed.stderr
    deleted = run(["user", "del", "bob@localhost"], env)
    assert deleted.returncode == 0
    assert run(["user", "list"], env).stdout.split() == ["alice@localhost"]
    missing = run(["user", "del", "bob@localhost"], env)
    assert missing.returncode != 0
    assert "no such user" in missing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["user", "add", "not a jid@localhost", "--password", "x"],
        ["user", "add", "alice@localhost/phone", "--password", "x"],
        ["user", "add", "alice@localhost"],  # no password on stdin
        ["user", "add", "alice@localhost", "--password", ""],
    ],
)
def test_user_errors_are_one_clear_line(tmp_path: Path, args: list[str]) -> None:
    result = run(args, _env(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("xmpp-video: ")
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_password_set_by_cli_logs_in(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert run(["user", "add", "carol", "--password", "from the cli"], env).returncode == 0
    assert run(["db", "upgrade"], env).returncode == 0  # idempotent


def test_production_refuses_missing_secret(tmp_path: Path) -> None:
    result = run(["--production", "check"], _env(tmp_path, JWT_SECRET="j" * 40))
    assert result.returncode == 1
    assert "TURN_SECRET" in result.stderr


def test_check_prints_listeners(tmp_path: Path) -> None:
    result = run(["check"], _env(tmp_path, C2S_PORT="15222"))
    assert result.returncode == 0, result.stderr
    assert "15222" in result.stdout
    assert "MAX_STANZA_SIZE" in result.stdout


def test_db_upgrade_postgresql(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    result = run(["db", "upgrade"], env)
    assert result.returncode == 0, result.stderr
    assert run(["user", "add", "dave", "--password", "pw"], env).returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_sigterm_drains_and_exits_zero(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        C2S_PORT=str(_free_port()),
        C2S_TLS_PORT=str(_free_port()),
        BIND_HOST="127.0.0.1",
        SHUTDOWN_TIMEOUT="5",
    )
    assert run(["user", "add", "erin", "--password", "pw"], env).returncode == 0
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        # starting the process does not block; waiting for it below goes through a thread
        proc = subprocess.Popen(  # noqa: ASYNC220
            [*CLI, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        port = int(env["C2S_PORT"])
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                assert proc.poll() is None, log_path.read_text()
                await asyncio.sleep(0.2)
        server = _ProcessServer(tmp_path / "var", port)
        async with connected(server, "erin@localhost", "pw") as erin:  # type: ignore[arg-type]
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(erin.disconnected_event.wait(), 10)
            assert erin.stream_errors == ["system-shutdown"]
        code = await asyncio.to_thread(proc.wait, 10)
        assert code == 0, log_path.read_text()
        assert "shutting down" in log_path.read_text()
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _ProcessServer:
    """What tests.interop.slix needs to reach a server running in another process."""

    domain = "localhost"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.c2s_port = port

    def client_ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.data_dir / "tls" / "cert.pem"))
