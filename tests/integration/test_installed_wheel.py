"""An operator's install: the built wheel in its own virtual environment, used from outside the
source tree, migrates a database and serves (the Alembic revisions and static files travel with
the wheel)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv (reusing this interpreter's dependencies) with only the wheel of this tree."""
    base = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(base / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
        timeout=120,
    )
    wheel = next((base / "dist").glob("xmpp_video-*.whl"))
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "-q", "install", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env.update(DATA_DIR=str(tmp_path / "var"), XMPP_DOMAIN="localhost")
    return env


def test_the_installed_package_is_the_wheel_not_the_source_tree(
    installed: Path, tmp_path: Path
) -> None:
    found = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import xmpp_video; print(xmpp_video.__file__)"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert str(installed) in found.stdout
    assert str(ROOT) not in found.stdout


def test_db_upgrade_and_user_add_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    cli = str(installed / "bin" / "xmpp-video")
    env = _env(tmp_path)
    upgraded = subprocess.run(
        [cli, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert upgraded.returncode == 0, upgraded.stderr
    added = subprocess.run(
        [cli, "user", "add", "alice@localhost", "--password", "s3cret-pass"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [cli, "user", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.stdout.split() == ["alice@localhost"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_from_the_wheel_answers_http_with_its_static_page(
    installed: Path, tmp_path: Path
) -> None:
    http_port = _free_port()
    env = _env(tmp_path)
    env.update(
        BIND_HOST="127.0.0.1",
        C2S_PORT=str(_free_port()),
        C2S_TLS_PORT="0",
        COMPONENT_PORT="0",
        HTTPS_PORT="0",
        HTTP_PORT=str(http_port),
    )
    server = subprocess.Popen(
        [str(installed / "bin" / "xmpp-video"), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else b""
            try:
                with socket.create_connection(("127.0.0.1", http_port), timeout=1) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while chunk := sock.recv(65536):
                        answer += chunk
                break
            except OSError:
                assert time.monotonic() < deadline, "the installed server did not listen"
                time.sleep(0.2)
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"<html" in answer.lower()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        if server.stdout:
            server.stdout.close()
