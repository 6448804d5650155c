"""The PEP (XEP-0163) repository interface and the values it exchanges.

A node belongs to one account (``owner``, a prepared bare JID) and is named by the client; its
configuration is kept as XEP-0060 form field values (``{"pubsub#access_model": "open"}``), which
the PEP module reads and writes (``xmpp_video.modules.pep.model``): storage does not interpret
them. Items keep their payload as XML text and are ordered by publication.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PepNode:
    owner: str
    node: str
    config: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PepItem:
    """A published item: ``payload`` is the payload element as XML text."""

    item_id: str
    payload: str
    published_at: dt.datetime


class PepRepository(Protocol):
    async def nodes(self, owner: str) -> list[PepNode]:
        """Every node of ``owner``, sorted by name."""
        ...

    async def create(self, owner: str, node: str, config: Mapping[str, str]) -> bool:
        """Create the node with ``config``; False when it exists already (left unchanged)."""
        ...

    async def configure(self, owner: str, node: str, config: Mapping[str, str]) -> bool:
        """Replace the node's configuration; False when there is no such node."""
        ...

    async def delete(self, owner: str, node: str) -> bool:
        """Delete the node and its items; False when there was no such node."""
        ...

    async def publish(
        self,
        owner: str,
        node: str,
        item: PepItem,
        *,
        keep: int,
        create: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``item`` as the node's newest (replacing an item with the same id), then keep
        only the ``keep`` newest items (``keep`` 0: store nothing, drop every item). With
        ``create``, the node is created with that configuration first if it does not exist;
        without, the node must exist. One transaction."""
        ...

    async def items(
        self,
        owner: str,
        node: str,
        *,
        last: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[PepItem]:
        """Items of the node, oldest first: all of them, the ``last`` newest, or those of
        ``ids`` that exist."""
        ...

    async def retract(self, owner: str, node: str, item_id: str) -> bool:
        """Delete one item; False when it did not exist."""
        ...

    async def purge(self, owner: str, node: str) -> int:
        """Delete every item of the node; how many there were."""
        ...

    async def delete_owner(self, owner: str) -> None:
        """Delete every node and item of ``owner`` (its account is gone)."""
        ...
