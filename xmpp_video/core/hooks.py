"""Typed hooks: modules subscribe to event classes, the core fires event instances.

An event type is a dataclass; `hooks.on(SessionBound, handler)` is checked by mypy, so a typo is
a type error instead of a handler that silently never fires. Handlers run in registration order;
an async handler is awaited before the next one runs. An exception in one handler is logged and
does not stop the others.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[E], Awaitable[None] | None]


class Hooks:
    def __init__(self) -> None:
        self._handlers: defaultdict[type[Any], list[Handler[Any]]] = defaultdict(list)

    def on(self, event: type[E], handler: Handler[E]) -> None:
        self._handlers[event].append(handler)

    def has(self, event: type[Any]) -> bool:
        return bool(self._handlers.get(event))

    async def fire(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                result = handler(event)
                if result is not None:
                    await result
            except Exception:
                log.exception("hook %s failed for %s", handler, type(event).__name__)
