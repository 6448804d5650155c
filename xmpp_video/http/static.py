"""The browser files shipped in ``xmpp_video/static/``: the call page at ``/`` and the JS module.

Safety by construction: a fixed allow-list maps each URL path to one packaged file, read once when
the routes are built, so nothing from a request ever reaches the file system (no path to
traverse: any other path is the usual 404). Each file has its content type with a charset,
``X-Content-Type-Options: nosniff``, an ``ETag`` (a hash of its bytes) and
``Cache-Control: no-cache``: browsers keep a copy but revalidate it, and ``If-None-Match`` gets a
304, so a server upgrade is picked up at once without fingerprinted file names. The page itself
carries a Content-Security-Policy allowing only this origin (scripts, styles, fetch and the
WebSocket), no framing, and camera and microphone for this origin only.

| path | file | served |
|---|---|---|
| ``/`` | index.html | when ``WEB_PAGE`` is on |
| ``/static/app.js``, ``/static/style.css`` | its script and style | when ``WEB_PAGE`` is on |
| ``/static/xmpp-video.js`` | the JSON-protocol client module for apps | always |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from typing import Final

from xmpp_video.http.messages import Request, Response
from xmpp_video.http.routes import Routes

MODULE_PATH: Final = "/static/xmpp-video.js"
PAGE_PATHS: Final = {
    "/": "index.html",
    "/static/app.js": "app.js",
    "/static/style.css": "style.css",
}
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
PAGE_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob: mediastream:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
COMMON_HEADERS: Final = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-cache"),
)
PAGE_HEADERS: Final = (
    ("Content-Security-Policy", PAGE_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()"),
)


def read_static(name: str) -> bytes:
    """One packaged file of ``xmpp_video/static/`` (a name from the allow-list)."""
    return (files("xmpp_video") / "static" / name).read_bytes()


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One allow-listed file, in memory, answered with its validators."""

    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls, name: str) -> StaticFile:
        body = read_static(name)
        suffix = name[name.rfind(".") :]
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        extra = PAGE_HEADERS if suffix == ".html" else ()
        return cls(body, CONTENT_TYPES[suffix], (("ETag", etag), *COMMON_HEADERS, *extra))

    @property
    def etag(self) -> str:
        return self.headers[0][1]

    async def get(self, request: Request) -> Response:
        if _matches(request.headers.get("if-none-match", ""), self.etag):
            return Response(304, b"", self.content_type, self.headers)
        return Response(200, self.body, self.content_type, self.headers)


def _matches(header: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: a list of (weak or strong) tags, or ``*``."""
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def add_static_routes(routes: Routes, *, web_page: bool) -> None:
    """Register the module, and the page unless ``web_page`` is off."""
    routes.add("GET", MODULE_PATH, StaticFile.load("xmpp-video.js").get)
    if web_page:
        for path, name in PAGE_PATHS.items():
            routes.add("GET", path, StaticFile.load(name).get)
