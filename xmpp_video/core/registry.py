"""The session registry: which resources of which accounts are connected where.

`SessionRegistry` is the interface the router uses; `LocalRegistry` keeps this node's sessions in
memory. A cluster backend (SPEC §8) implements the same interface over Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from xmpp_video.core.session import Session


class SessionRegistry(Protocol):
    def add(self, session: Session) -> None: ...
    def remove(self, session: Session) -> bool: ...
    def get(self, full_jid: str) -> Session | None: ...
    def resources(self, bare_jid: str) -> list[Session]: ...
    def has_resource(self, bare_jid: str, resource: str) -> bool: ...
    def __iter__(self) -> Iterator[Session]: ...
    def __len__(self) -> int: ...


class LocalRegistry:
    """In-memory registry: bare JID → {resource: session}."""

    def __init__(self) -> None:
        self._by_bare: dict[str, dict[str, Session]] = {}
        self._count = 0

    def add(self, session: Session) -> None:
        assert session.jid is not None
        assert session.jid.resource is not None
        resources = self._by_bare.setdefault(session.bare, {})
        if session.jid.resource in resources:
            raise ValueError(f"resource conflict for {session.full}")
        resources[session.jid.resource] = session
        self._count += 1

    def remove(self, session: Session) -> bool:
        if session.jid is None or session.jid.resource is None:
            return False
        resources = self._by_bare.get(session.bare)
        if not resources or resources.get(session.jid.resource) is not session:
            return False
        del resources[session.jid.resource]
        if not resources:
            del self._by_bare[session.bare]
        self._count -= 1
        return True

    def get(self, full_jid: str) -> Session | None:
        bare, _, resource = full_jid.partition("/")
        resources = self._by_bare.get(bare)
        return resources.get(resource) if resources else None

    def resources(self, bare_jid: str) -> list[Session]:
        resources = self._by_bare.get(bare_jid)
        return list(resources.values()) if resources else []

    def has_resource(self, bare_jid: str, resource: str) -> bool:
        return resource in self._by_bare.get(bare_jid, {})

    def __iter__(self) -> Iterator[Session]:
        for resources in list(self._by_bare.values()):
            yield from list(resources.values())

    def __len__(self) -> int:
        return self._count
