"""Drive tests/interop/js/ws_client.mjs, an independent WebSocket XMPP client (@xmpp/client).

The script logs in over RFC 7395 WebSocket, runs one action and prints one JSON object per line
(see the comment at its top). This helper starts it with ``asyncio.create_subprocess_exec``,
streams those lines as `ClientEvent` objects, bounds every wait with a timeout, and stops the
process by its pid when the ``async with`` block ends::

    require_node_client()  # skip (or fail under CI=true) without node / npm ci
    async with ws_client(url, "localhost", "bob", PASSWORD, action="echo", count=1) as bob:
        online = await bob.wait_for("online")  # bob["jid"] == "bob@localhost/…"
        async with ws_client(url, "localhost", "alice", PASSWORD, action="send",
                             to="bob@localhost", body="hi") as alice:
            reply = await alice.wait_for("received")
            assert reply["body"] == "hi"
            assert await alice.finish() == 0

``run_ws_client(...)`` runs one to the end and returns its exit status, events and stderr.
Node.js 20 needs ``--experimental-websocket`` for the global WebSocket @xmpp/client uses; it is
added when the installed node lacks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

__all__ = [
    "JS_DIR",
    "SCRIPT",
    "ClientEvent",
    "FastOptions",
    "NodeClient",
    "NodeClientError",
    "NodeResult",
    "node_client_missing",
    "require_node_client",
    "run_ws_client",
    "ws_client",
]

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "ws_client.mjs"
TIMEOUT = 10.0  # seconds, default for each wait
RUN_TIMEOUT = 20.0  # seconds, the script's own bound on its whole run (--timeout)
STOP_TIMEOUT = 5.0

Action = Literal["login", "send", "echo", "receive"]


class NodeClientError(AssertionError):
    """The script reported an error, exited, or did not report in time (message says which)."""


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One JSON line of the script: ``event`` is its "event" field; ``ev["body"]`` reads others."""

    event: str
    fields: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


@dataclass(frozen=True, slots=True)
class NodeResult:
    returncode: int
    events: tuple[ClientEvent, ...]
    stderr: str

    def named(self, event: str) -> list[ClientEvent]:
        return [e for e in self.events if e.event == event]


def node_client_missing() -> str | None:
    """Why the script cannot run here (no node, no ``npm ci``), or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS_DIR / "node_modules" / "@xmpp" / "client").is_dir():
        return f"@xmpp/client is not installed: npm ci --prefix {JS_DIR}"
    return None


def require_node_client() -> None:
    """Skip the calling test when the script cannot run; fail instead under ``CI=true``."""
    reason = node_client_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"{reason} (CI=true: the WebSocket interop client is required)")
    pytest.skip(reason)


_NODE_FLAGS: dict[str, tuple[str, ...]] = {}  # probed once per test session


async def _node_flags_needed() -> tuple[str, ...]:
    """``--experimental-websocket`` when this node has no global WebSocket (Node.js 20)."""
    if "flags" not in _NODE_FLAGS:
        probe = await asyncio.create_subprocess_exec(
            "node",
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(TIMEOUT):
            has_websocket = await probe.wait() == 0
        _NODE_FLAGS["flags"] = () if has_websocket else ("--experimental-websocket",)
    return _NODE_FLAGS["flags"]


def _arguments(
    service: str,
    domain: str,
    username: str,
    password: str,
    action: Action,
    *,
    resource: str,
    to: str | None,
    body: str | None,
    count: int,
    wait: bool,
    mechanism: str | None,
    run_timeout: float,
    fast: FastOptions | None = None,
) -> list[str]:
    args = ["--service", service, "--domain", domain, "--username", username]
    args += [f"--password={password}", "--resource", resource, "--timeout", str(run_timeout)]
    if mechanism is not None:
        args += ["--mechanism", mechanism]
    if fast is not None:
        args += fast.arguments()
    args.append(action)
    if to is not None:
        args += ["--to", to]
    if body is not None:
        args.append(f"--body={body}")
    args += ["--count", str(count)]
    if not wait:
        args.append("--no-wait")
    return args


@dataclass(frozen=True, slots=True)
class FastOptions:
    """SASL2 / FAST (XEP-0484) options of the script: ``user_agent_id`` names the client (its
    FAST tokens belong to it); ``token`` logs in with a FAST token (``"token"`` events carry the
    tokens the server hands out); ``debug`` copies the XML to stderr."""

    user_agent_id: str | None = None
    token: str | None = None
    token_expiry: str | None = None
    debug: bool = False

    def arguments(self) -> list[str]:
        args = []
        # `--name=value`: a value may start with "-" (a base64url token does one time in 64),
        # which node's parseArgs would otherwise take for an option
        if self.user_agent_id is not None:
            args.append(f"--user-agent-id={self.user_agent_id}")
        if self.token is not None:
            args.append(f"--token={self.token}")
        if self.token_expiry is not None:
            args.append(f"--token-expiry={self.token_expiry}")
        if self.debug:
            args.append("--debug")
        return args


@dataclass(eq=False)
class NodeClient:
    """A running ws_client.mjs: await its events; the process ends when the block ends."""

    process: asyncio.subprocess.Process
    name: str
    events: list[ClientEvent] = field(default_factory=list)
    """every event read so far, in order (those consumed by wait_for/next_event too)"""
    _queue: asyncio.Queue[ClientEvent | None] = field(default_factory=asyncio.Queue)
    _stderr: bytearray = field(default_factory=bytearray)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _eof: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stderr(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def _start_readers(self) -> None:
        self._tasks.append(asyncio.create_task(self._read_stdout(), name=f"{self.name}-stdout"))
        self._tasks.append(asyncio.create_task(self._read_stderr(), name=f"{self.name}-stderr"))

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        try:
            async for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    data = {"event": "stdout", "line": line}
                if not isinstance(data, dict):
                    data = {"event": "stdout", "line": line}
                event = ClientEvent(str(data.get("event", "stdout")), data)
                self.events.append(event)
                self._queue.put_nowait(event)
        finally:
            self._queue.put_nowait(None)  # end of output

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr += chunk[: max(0, 1_000_000 - len(self._stderr))]

    def _describe(self) -> str:
        events = "\n".join(json.dumps(dict(e.fields)) for e in self.events[-20:])
        return f"[{self.name} pid {self.pid}] events:\n{events}\nstderr:\n{self.stderr[-2000:]}"

    async def next_event(self, timeout: float = TIMEOUT) -> ClientEvent:
        """The next event; NodeClientError when none comes in time or the output ended."""
        if self._eof:
            raise NodeClientError(f"output ended\n{self._describe()}")
        try:
            async with asyncio.timeout(timeout):
                event = await self._queue.get()
        except TimeoutError:
            raise NodeClientError(f"no event within {timeout}s\n{self._describe()}") from None
        if event is None:
            self._eof = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
            code = self.process.returncode
            raise NodeClientError(f"output ended (exit {code})\n{self._describe()}")
        return event

    async def wait_for(self, event: str, timeout: float = TIMEOUT, **match: object) -> ClientEvent:
        """Skip events until one named ``event`` whose fields equal ``match``; an "error" event
        on the way (unless waited for) raises NodeClientError, and so does the timeout."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    got = await self.next_event(timeout)
                    if got.event == event and all(got.get(k) == v for k, v in match.items()):
                        return got
                    if got.event == "error":
                        raise NodeClientError(
                            f"error while waiting for {event}\n{self._describe()}"
                        )
        except TimeoutError:
            wanted = f"{event} {match}" if match else event
            raise NodeClientError(f"no {wanted} within {timeout}s\n{self._describe()}") from None

    async def finish(self, timeout: float = RUN_TIMEOUT + STOP_TIMEOUT) -> int:
        """Wait for the script to exit by itself (all output read); its exit status."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*self._tasks)
                return await self.process.wait()
        except TimeoutError:
            raise NodeClientError(f"still running after {timeout}s\n{self._describe()}") from None

    async def stop(self) -> None:
        """End the process by its pid (SIGTERM, then SIGKILL) and the reader tasks."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        except TimeoutError:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)


@asynccontextmanager
async def ws_client(
    service: str,
    domain: str,
    username: str,
    password: str,
    action: Action = "login",
    *,
    resource: str = "node",
    to: str | None = None,
    body: str | None = None,
    count: int = 1,
    wait: bool = True,
    mechanism: str | None = None,
    run_timeout: float = RUN_TIMEOUT,
    fast: FastOptions | None = None,
) -> AsyncIterator[NodeClient]:
    """Start ws_client.mjs (see the module docstring); stopped by pid when the block ends.

    ``service`` is the WebSocket URL (``ws://127.0.0.1:PORT/ws``); ``username`` the local part;
    ``action`` one of login/send/echo/receive with ``to``/``body``/``count``/``wait`` as the
    script takes them; ``mechanism`` forces a SASL mechanism; ``run_timeout`` bounds the run.
    """
    args = _arguments(
        service,
        domain,
        username,
        password,
        action,
        resource=resource,
        to=to,
        body=body,
        count=count,
        wait=wait,
        mechanism=mechanism,
        run_timeout=run_timeout,
        fast=fast,
    )
    flags = await _node_flags_needed()
    process = await asyncio.create_subprocess_exec(
        "node",
        *flags,
        str(SCRIPT),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    client = NodeClient(process, f"{username}/{resource}")
    client._start_readers()
    try:
        yield client
    finally:
        await client.stop()


async def run_ws_client(
    service: str,
    domain: str,
    username: str,
    password: str,
    action: Action = "login",
    *,
    resource: str = "node",
    to: str | None = None,
    body: str | None = None,
    count: int = 1,
    wait: bool = True,
    mechanism: str | None = None,
    run_timeout: float = RUN_TIMEOUT,
    fast: FastOptions | None = None,
) -> NodeResult:
    """Run ws_client.mjs to its end (bounded by ``run_timeout`` plus a margin)."""
    async with ws_client(
        service,
        domain,
        username,
        password,
        action,
        resource=resource,
        to=to,
        body=body,
        count=count,
        wait=wait,
        mechanism=mechanism,
        run_timeout=run_timeout,
        fast=fast,
    ) as client:
        code = await client.finish(run_timeout + STOP_TIMEOUT)
        return NodeResult(code, tuple(client.events), client.stderr)
