"""Each account's nodes and their configuration, read through a bounded in-memory cache.

Every change goes through this object (the PEP module is the only writer), so the cache is
exact on a single node; a cluster (SPEC §8) will need to tell the other nodes. An account with
no nodes is cached too (as empty), so contacts coming online cost no query for it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final

from xmpp_video.modules.pep.model import InvalidOption, NodeConfig
from xmpp_video.storage.pep import PepItem, PepRepository

log = logging.getLogger(__name__)

OWNERS_CACHED: Final = 10_000


class Nodes:
    def __init__(self, repo: PepRepository, max_items: int) -> None:
        self.repo = repo
        self.max_items = max_items
        self._cache: OrderedDict[str, dict[str, NodeConfig]] = OrderedDict()

    def _config(self, owner: str, node: str, values: Mapping[str, str]) -> NodeConfig:
        config = NodeConfig()
        for var, value in values.items():
            try:
                config = config.with_option(var, value, self.max_items)
            except InvalidOption as exc:  # e.g. max_items above PEP_MAX_ITEMS lowered since
                log.warning("PEP node %s of %s: stored %s; default used", node, owner, exc)
                if var == "pubsub#max_items":
                    config = config.with_option(var, "max", self.max_items)
        return config

    async def of(self, owner: str) -> dict[str, NodeConfig]:
        """``owner``'s nodes by name (do not modify the mapping)."""
        nodes = self._cache.get(owner)
        if nodes is not None:
            self._cache.move_to_end(owner)
            return nodes
        stored = await self.repo.nodes(owner)
        nodes = {n.node: self._config(owner, n.node, n.config) for n in stored}
        self._cache[owner] = nodes
        while len(self._cache) > OWNERS_CACHED:
            self._cache.popitem(last=False)
        return nodes

    async def get(self, owner: str, node: str) -> NodeConfig | None:
        return (await self.of(owner)).get(node)

    async def create(self, owner: str, node: str, config: NodeConfig) -> bool:
        created = await self.repo.create(owner, node, config.to_values())
        self._cache.pop(owner, None)
        return created

    async def configure(self, owner: str, node: str, config: NodeConfig) -> bool:
        changed = await self.repo.configure(owner, node, config.to_values())
        self._cache.pop(owner, None)
        return changed

    async def delete(self, owner: str, node: str) -> bool:
        deleted = await self.repo.delete(owner, node)
        self._cache.pop(owner, None)
        return deleted

    async def publish(
        self, owner: str, node: str, item: PepItem, config: NodeConfig, *, create: bool
    ) -> None:
        await self.repo.publish(
            owner,
            node,
            item,
            keep=config.keep(self.max_items),
            create=config.to_values() if create else None,
        )
        if create:
            self._cache.pop(owner, None)

    def forget(self, owner: str) -> None:
        self._cache.pop(owner, None)
