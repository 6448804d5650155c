"""The call page and the JS module over HTTP (http/static.py): a fixed allow-list of packaged
files with their content types, validators and security headers; nothing else is reachable.
The page itself is exercised in real Chromium by tests/browser/."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.http.static import MODULE_PATH, PAGE_PATHS

pytestmark = pytest.mark.asyncio
SQLITE = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
STATIC = Path(__file__).resolve().parents[3] / "xmpp_video" / "static"
TYPES = {
    "/": "text/html; charset=utf-8",
    "/static/app.js": "text/javascript; charset=utf-8",
    "/static/style.css": "text/css; charset=utf-8",
    MODULE_PATH: "text/javascript; charset=utf-8",
}


@pytest_asyncio.fixture
async def http(xmpp_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=xmpp_server.http_url, timeout=10) as client:
        yield client


async def raw_get(server: RunningServer, target: str) -> tuple[int, bytes]:
    """The status line's code and the body for a request target sent byte for byte (httpx would
    normalise ``..`` and escapes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("latin-1"))
        async with asyncio.timeout(10):
            data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@SQLITE
@pytest.mark.parametrize("path", sorted(TYPES))
async def test_each_file_with_its_type_and_headers(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == TYPES[path]
    name = "index.html" if path == "/" else path.removeprefix("/static/")
    assert response.content == (STATIC / name).read_bytes()
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"  # one header, not the API's no-store
    assert response.headers["etag"].startswith('"')
    if path == "/":
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"


@SQLITE
async def test_revalidation_answers_304(http: httpx.AsyncClient) -> None:
    first = await http.get(MODULE_PATH)
    etag = first.headers["etag"]
    again = await http.get(MODULE_PATH, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await http.get(MODULE_PATH, headers={"if-none-match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    changed = await http.get(MODULE_PATH, headers={"if-none-match": '"something-else"'})
    assert changed.status_code == 200
    assert changed.content == first.content


@SQLITE
async def test_head_and_other_methods(http: httpx.AsyncClient) -> None:
    head = await http.head("/")
    assert head.status_code == 200
    assert head.content == b""
    post = await http.post("/static/app.js", content=b"x")
    assert post.status_code == 405
    assert post.headers["allow"] == "GET"


@SQLITE
async def test_api_answers_keep_no_store(http: httpx.AsyncClient) -> None:
    response = await http.get("/health")
    assert response.headers.get_list("cache-control") == ["no-store"]


@SQLITE
@pytest.mark.parametrize(
    "target",
    [
        "/static/",
        "/static",
        "/index.html",
        "/static/index.html",
        "/static/../setup.cfg",
        "/static/..%2f..%2fsetup.cfg",
        "/static/%2e%2e/config.py",
        "/static//xmpp-video.js",
        "/static/xmpp-video.js/",
        "/static/XMPP-VIDEO.JS",
        "/static/__init__.py",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/static/app.js%00.html",
    ],
)
async def test_nothing_outside_the_allow_list(xmpp_server: RunningServer, target: str) -> None:
    status, body = await raw_get(xmpp_server, target)
    assert status in (400, 404), (target, status, body[:200])


async def test_page_uses_no_external_resources() -> None:
    """No CDN, no font service: every reference is to this origin."""
    for name in ("index.html", "app.js", "style.css", "xmpp-video.js"):
        text = (STATIC / name).read_text(encoding="utf-8")
        code = re.sub(r"^\s*(//|\*|/\*\*).*$", "", text, flags=re.MULTILINE)  # doc comments
        assert not re.search(r"(?<![\w.])(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", code, re.I), name
        assert "@import" not in code, name
        refs = re.findall(r'(?:src|href)="([^"]*)"', code)
        assert all(ref.startswith("/static/") or ref == "data:," for ref in refs), (name, refs)


@SQLITE
async def test_web_page_off_keeps_the_module(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, web_page=False)
    async with (
        running_server(settings) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
    ):
        for path in PAGE_PATHS:
            response = await http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found"
        assert (await http.get(MODULE_PATH)).status_code == 200
