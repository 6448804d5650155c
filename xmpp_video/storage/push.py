"""The push registration repository interface (XEP-0357) and the value it exchanges.

A registration says: notify the app server ``service`` (any JID) on its pubsub ``node`` about
``owner``'s device ``resource``, with the publish-options ``options`` (the form fields the
client gave when enabling, e.g. a ``secret``) in every publish. One per (owner, service,
node): enabling the same pair again replaces the resource and the options (XEP-0357 §5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

# (var, values) of each publish-options field, in the client's order; FORM_TYPE left out
PublishOptions = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class PushRegistration:
    owner: str  # prepared bare JID of the account
    resource: str  # the client (bound resource) that enabled it
    service: str  # the app server's JID, prepared
    node: str
    options: PublishOptions = ()
    # when it was (last) enabled; set by the repository on save
    enabled_at: dt.datetime | None = field(default=None, compare=False)

    @property
    def device(self) -> str:
        """The full JID of the client the registration wakes."""
        return f"{self.owner}/{self.resource}"


class PushRepository(Protocol):
    async def list(self, owner: str) -> list[PushRegistration]:
        """``owner``'s registrations, oldest first."""
        ...

    async def save(self, registration: PushRegistration) -> None:
        """Insert, or replace the resource and options of the row with the same (owner,
        service, node) — an upsert, safe against concurrent enables."""
        ...

    async def remove(self, owner: str, service: str | None = None, node: str | None = None) -> int:
        """Remove ``owner``'s registrations: all (``service`` None), those of ``service``, or
        the one (``service``, ``node``). Returns how many rows went."""
        ...

    async def owners(self) -> Sequence[str]:
        """Every account with at least one registration, sorted (loaded at start-up)."""
        ...
