"""Dispatch of HTTP requests to handlers by method and path; every failure answered in JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from xmpp_video.http.messages import HttpError, Request, Response, json_error

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
StatusObserver = Callable[[int], None]


class Routes:
    """Handlers by path and method. `dispatch()` never raises: unknown paths are 404, other
    methods 405 (with ``Allow``), `HttpError` becomes its JSON error, a crash 500.

    A path ending in ``/`` added with `add_prefix` serves every longer path under it that has
    no exact route (``/api/admin/calls/{id}``); the handler reads the rest of the path."""

    __slots__ = ("_paths", "_prefixes", "observers")

    def __init__(self) -> None:
        self._paths: dict[str, dict[str, Handler]] = {}
        self._prefixes: dict[str, dict[str, Handler]] = {}
        self.observers: list[StatusObserver] = []  # told every response status (metrics)

    def add(self, method: str, path: str, handler: Handler) -> None:
        methods = self._paths.setdefault(path, {})
        if method in methods:
            raise ValueError(f"{method} {path} has a handler already")
        methods[method] = handler

    def add_prefix(self, method: str, prefix: str, handler: Handler) -> None:
        if not prefix.endswith("/"):
            raise ValueError(f"a prefix route ends with '/': {prefix}")
        methods = self._prefixes.setdefault(prefix, {})
        if method in methods:
            raise ValueError(f"{method} {prefix}… has a handler already")
        methods[method] = handler

    def has(self, path: str) -> bool:
        return path in self._paths

    async def dispatch(self, request: Request) -> Response:
        response = await self._dispatch(request)
        for observer in self.observers:
            observer(response.status)
        return response

    async def _dispatch(self, request: Request) -> Response:
        methods = self._paths.get(request.path)
        if methods is None:
            methods = next(
                (
                    handlers
                    for prefix, handlers in self._prefixes.items()
                    if request.path.startswith(prefix) and len(request.path) > len(prefix)
                ),
                None,
            )
        if methods is None:
            return json_error(404, "not_found", f"no such endpoint: {request.path}")
        handler = methods.get(request.method)
        if handler is None and request.method == "HEAD":
            handler = methods.get("GET")
        if handler is None:
            allow = ", ".join(sorted(methods))
            return json_error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {allow}",
                (("Allow", allow),),
            )
        try:
            return await handler(request)
        except HttpError as exc:
            return exc.response()
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            return json_error(500, "internal_error", "the server failed to answer this request")
