"""The pubsub requests of an account's PEP service (XEP-0060 as XEP-0163 profiles it).

Handlers of iqs to an account's bare JID (or without ``to``, for one's own account):

* ``pubsub`` set ``<publish node>`` with one ``<item>`` of one payload element and optional
  ``<publish-options>`` (XEP-0223): owner only (``forbidden``); the node is created on first
  publish (auto-create) with the publish options as its configuration; on an existing node they
  are preconditions (``conflict`` + ``precondition-not-met`` when one does not hold). An item
  without ``id`` gets one; the same id replaces the item. Errors: no node →
  ``bad-request``/``nodeid-required``; no item → ``bad-request``/``item-required``; an item
  without payload → ``bad-request``/``payload-required``, with more than one (or several items)
  → ``bad-request``/``invalid-payload``; a payload over `PEP_MAX_ITEM_SIZE` bytes →
  ``not-acceptable``/``payload-too-big``; a new node beyond `PEP_MAX_NODES` →
  ``not-allowed``/``max-nodes-exceeded``.
* ``pubsub`` set ``<retract node notify><item id/></retract>``: owner only; unknown node or item
  → ``item-not-found``; ``notify='true'`` sends a retraction event.
* ``pubsub`` set ``<create node/>`` (with an optional ``<configure>`` form): owner only; an
  existing node → ``conflict``; no node (instant nodes) → ``not-acceptable``/``nodeid-required``.
* ``pubsub`` get ``<items node [max_items]>`` (optionally with ``<item id/>``\\ s): anyone the
  access model lets read (`access`); an unknown node → ``item-not-found`` (the account unknown:
  ``service-unavailable``); items oldest first.
* ``pubsub#owner`` get/set ``<configure node>`` (the form; submitting one), get ``<default/>``,
  set ``<delete node/>`` and ``<purge node/>`` (with their events): owner only.
* Everything about explicit subscriptions and affiliations (PEP subscriptions are implied by
  presence and caps) → ``feature-not-implemented`` + ``<unsupported feature/>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import weakref
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.iq import IqRequest
from xmpp_video.core.server import Server
from xmpp_video.modules.pep.access import Access
from xmpp_video.modules.pep.forms import read_form, write_form
from xmpp_video.modules.pep.model import (
    KNOWN,
    MAX_ITEM_ID_LENGTH,
    InvalidOption,
    NodeConfig,
    check_node_name,
    configured,
    precondition_not_met,
    pubsub_error,
    unsupported,
)
from xmpp_video.modules.pep.names import (
    FORM,
    NODE_CONFIG,
    OWNER,
    OWNER_TAG,
    PUBSUB_TAG,
)
from xmpp_video.modules.pep.nodes import Nodes
from xmpp_video.modules.pep.notify import (
    Notifier,
    items_event,
    node_event,
    parse_payload,
    retract_event,
)
from xmpp_video.stanza.conditions import StanzaErrorCondition, StanzaErrorType
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.stanza.namespaces import PUBLISH_OPTIONS, PUBSUB
from xmpp_video.storage.pep import PepItem
from xmpp_video.xml import serialize


def _p(name: str) -> str:
    return f"{{{PUBSUB}}}{name}"


def _o(name: str) -> str:
    return f"{{{OWNER}}}{name}"


# explicit subscriptions and affiliations: not offered (XEP-0060 §10 feature names)
UNSUPPORTED_PUBSUB = {
    _p("subscribe"): "subscribe",
    _p("unsubscribe"): "subscribe",
    _p("options"): "subscription-options",
    _p("subscriptions"): "retrieve-subscriptions",
    _p("affiliations"): "retrieve-affiliations",
    _p("default"): "subscription-options",
}
UNSUPPORTED_OWNER = {
    _o("subscriptions"): "manage-subscriptions",
    _o("affiliations"): "modify-affiliations",
}


def _bad_request(specific: str | None = None, text: str = "") -> StanzaError:
    return pubsub_error(StanzaErrorCondition.BAD_REQUEST, specific, text)


def _owner_only(request: IqRequest) -> str:
    if not request.from_self:
        raise StanzaError(StanzaErrorCondition.FORBIDDEN, "only the owner may do this")
    return str(request.to)


def _first_child(payload: Element) -> Element:
    if len(payload) == 0:
        raise _bad_request(text="an empty pubsub element")
    return payload[0]


class PubsubService:
    def __init__(self, server: Server, nodes: Nodes, access: Access, notifier: Notifier) -> None:
        self.server = server
        self.nodes = nodes
        self.access = access
        self.notifier = notifier
        settings = server.settings
        self.max_item_size = settings.pep_max_item_size
        self.max_nodes = settings.pep_max_nodes
        self.max_items = settings.pep_max_items
        # one lock per account while in use: changes to one account's nodes never interleave
        # (two resources auto-creating one node with different publish options, say)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, owner: str) -> asyncio.Lock:
        lock = self._locks.get(owner)
        if lock is None:
            lock = self._locks[owner] = asyncio.Lock()
        return lock

    # -- dispatch --------------------------------------------------------------------------

    async def pubsub_set(self, request: IqRequest) -> Element | None:
        async with self._lock(str(request.to)):
            return await self._pubsub_set(request)

    async def _pubsub_set(self, request: IqRequest) -> Element | None:
        action = _first_child(request.payload)
        tag = action.tag
        if tag == _p("publish"):
            return await self.publish(request, action)
        if tag == _p("retract"):
            await self.retract(request, action)
            return None
        if tag == _p("create"):
            await self.create(request, action)
            return None
        raise self._unsupported(tag, UNSUPPORTED_PUBSUB)

    async def pubsub_get(self, request: IqRequest) -> Element:
        action = _first_child(request.payload)
        if action.tag == _p("items"):
            return await self.items(request, action)
        raise self._unsupported(action.tag, UNSUPPORTED_PUBSUB)

    async def owner_get(self, request: IqRequest) -> Element:
        action = _first_child(request.payload)
        if action.tag == _o("configure"):
            return await self.configuration(request, action)
        if action.tag == _o("default"):
            _owner_only(request)
            return self._config_answer(None, NodeConfig(), _o("default"))
        raise self._unsupported(action.tag, UNSUPPORTED_OWNER)

    async def owner_set(self, request: IqRequest) -> None:
        async with self._lock(str(request.to)):
            await self._owner_set(request)

    async def _owner_set(self, request: IqRequest) -> None:
        action = _first_child(request.payload)
        tag = action.tag
        if tag == _o("configure"):
            await self.configure(request, action)
        elif tag == _o("delete"):
            await self.delete(request, action)
        elif tag == _o("purge"):
            await self.purge(request, action)
        else:
            raise self._unsupported(tag, UNSUPPORTED_OWNER)

    @staticmethod
    def _unsupported(tag: str, known: dict[str, str]) -> StanzaError:
        feature = known.get(tag)
        if feature is None:
            return _bad_request(text="unknown pubsub request")
        return unsupported(feature)

    async def _node(self, owner: str, node: str) -> NodeConfig:
        config = await self.nodes.get(owner, node)
        if config is None:
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND, "no such node")
        return config

    # -- publish (XEP-0060 §7.1, XEP-0223) ---------------------------------------------------

    async def publish(self, request: IqRequest, publish: Element) -> Element:
        owner = _owner_only(request)
        node = check_node_name(publish.get("node"))
        items = publish.findall(_p("item"))
        if not items:
            raise _bad_request("item-required")
        if len(items) > 1 or len(items[0]) > 1:
            raise _bad_request("invalid-payload", "one item with one payload element")
        if len(items[0]) == 0:
            raise _bad_request("payload-required")
        item = items[0]
        item_id = item.get("id") or secrets.token_urlsafe(12)
        if len(item_id) > MAX_ITEM_ID_LENGTH:
            raise StanzaError(
                StanzaErrorCondition.NOT_ACCEPTABLE, f"item ids have at most {MAX_ITEM_ID_LENGTH}"
            )
        payload = item[0]
        xml = serialize(payload, default_ns="")
        if len(xml) > self.max_item_size:
            raise pubsub_error(
                StanzaErrorCondition.NOT_ACCEPTABLE,
                "payload-too-big",
                f"an item may take at most {self.max_item_size} bytes",
                type_=StanzaErrorType.MODIFY,
            )
        options = self._publish_options(request.payload)
        config = await self.nodes.get(owner, node)
        create = config is None
        if config is None:
            await self._room_for_a_node(owner)
            config = NodeConfig()
            for var, value in options.items():
                if var not in KNOWN:
                    raise precondition_not_met(f"{var} is not supported")
                try:
                    config = config.with_option(var, value, self.max_items)
                except InvalidOption as exc:
                    raise precondition_not_met(str(exc)) from None
        else:
            for var, value in options.items():
                if not config.matches(var, value, self.max_items):
                    raise precondition_not_met(f"the node's {var} is not {value!r}")
        published = PepItem(item_id, xml.decode(), dt.datetime.now(dt.UTC))
        await self.nodes.publish(owner, node, published, config, create=create)
        event_payload = payload if config.deliver_payloads else None
        await self.notifier.notify(owner, node, config, items_event(node, item_id, event_payload))
        answer = Element(PUBSUB_TAG)
        SubElement(SubElement(answer, _p("publish"), {"node": node}), _p("item"), {"id": item_id})
        return answer

    @staticmethod
    def _publish_options(pubsub: Element) -> dict[str, str]:
        options = pubsub.find(_p("publish-options"))
        if options is None:
            return {}
        x = options.find(FORM)
        if x is None:
            return {}
        form = read_form(x)
        if form.form_type != PUBLISH_OPTIONS or form.type != "submit":
            raise _bad_request("invalid-options", "a submitted publish-options form")
        return {var: values[0] if values else "" for var, values in form.values.items()}

    async def _room_for_a_node(self, owner: str) -> None:
        if len(await self.nodes.of(owner)) >= self.max_nodes:
            raise pubsub_error(
                StanzaErrorCondition.NOT_ALLOWED,
                "max-nodes-exceeded",
                f"an account may have at most {self.max_nodes} nodes",
            )

    # -- retract, create -----------------------------------------------------------------

    async def retract(self, request: IqRequest, retract: Element) -> None:
        owner = _owner_only(request)
        node = check_node_name(retract.get("node"))
        item = retract.find(_p("item"))
        item_id = None if item is None else item.get("id")
        if not item_id:
            raise _bad_request("item-required")
        config = await self._node(owner, node)
        if not await self.nodes.repo.retract(owner, node, item_id):
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND, "no such item")
        if retract.get("notify") in ("1", "true"):
            await self.notifier.notify(owner, node, config, retract_event(node, item_id))

    async def create(self, request: IqRequest, create: Element) -> None:
        owner = _owner_only(request)
        node = create.get("node")
        if not node:  # instant nodes are not offered
            raise pubsub_error(StanzaErrorCondition.NOT_ACCEPTABLE, "nodeid-required")
        check_node_name(node)
        config = NodeConfig()
        configure = request.payload.find(_p("configure"))
        x = None if configure is None else configure.find(FORM)
        if x is not None:
            config = configured(config, read_form(x), self.max_items)
        if await self.nodes.get(owner, node) is not None:
            raise StanzaError(StanzaErrorCondition.CONFLICT, "the node exists")
        await self._room_for_a_node(owner)
        if not await self.nodes.create(owner, node, config):
            raise StanzaError(StanzaErrorCondition.CONFLICT, "the node exists")

    # -- items (XEP-0060 §6.5) -------------------------------------------------------------

    async def items(self, request: IqRequest, items: Element) -> Element:
        owner = str(request.to)
        node = check_node_name(items.get("node"))
        config = await self.nodes.get(owner, node)
        if config is None:
            if not request.from_self and not await self.server.accounts.exists(
                request.to.local or ""
            ):
                raise StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE)
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND, "no such node")
        await self.access.check(owner, str(request.sender.bare), config)
        last = None
        max_items = items.get("max_items")
        if max_items is not None:
            try:
                last = int(max_items)
            except ValueError:
                raise _bad_request(text="max_items is a number") from None
            if last < 1:
                raise _bad_request(text="max_items is at least 1")
        keep = config.keep(self.max_items)  # fewer after a configure lowered max_items
        last = keep if last is None else min(last, keep)
        if last == 0:
            return self._items_answer(node, [])
        ids = [el.get("id", "") for el in items.findall(_p("item"))]
        if any(not id_ for id_ in ids):
            raise _bad_request("item-required")
        found = await self.nodes.repo.items(owner, node, last=last, ids=ids or None)
        return self._items_answer(node, found)

    @staticmethod
    def _items_answer(node: str, found: list[PepItem]) -> Element:
        answer = Element(PUBSUB_TAG)
        listed = SubElement(answer, _p("items"), {"node": node})
        for stored in found:
            item = SubElement(listed, _p("item"), {"id": stored.item_id})
            payload = parse_payload(stored.payload)
            if payload is not None:
                item.append(payload)
        return answer

    # -- owner: configure, default, delete, purge (XEP-0060 §8) ----------------------------

    def _config_answer(self, node: str | None, config: NodeConfig, tag: str) -> Element:
        answer = Element(OWNER_TAG)
        holder = SubElement(answer, tag)
        if node is not None:
            holder.set("node", node)
        holder.append(write_form(NODE_CONFIG, config.form_fields(self.max_items)))
        return answer

    async def configuration(self, request: IqRequest, configure: Element) -> Element:
        owner = _owner_only(request)
        node = check_node_name(configure.get("node"))
        config = await self._node(owner, node)
        return self._config_answer(node, config, _o("configure"))

    async def configure(self, request: IqRequest, configure: Element) -> None:
        owner = _owner_only(request)
        node = check_node_name(configure.get("node"))
        config = await self._node(owner, node)
        x = configure.find(FORM)
        if x is None:
            raise _bad_request(text="a node_config form")
        form = read_form(x)
        if form.type == "cancel":
            return
        changed = configured(config, form, self.max_items)
        if changed != config and not await self.nodes.configure(owner, node, changed):
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND, "no such node")

    async def delete(self, request: IqRequest, delete: Element) -> None:
        owner = _owner_only(request)
        node = check_node_name(delete.get("node"))
        config = await self._node(owner, node)
        if not await self.nodes.delete(owner, node):
            raise StanzaError(StanzaErrorCondition.ITEM_NOT_FOUND, "no such node")
        await self.notifier.notify(owner, node, config, node_event("delete", node))

    async def purge(self, request: IqRequest, purge: Element) -> None:
        owner = _owner_only(request)
        node = check_node_name(purge.get("node"))
        config = await self._node(owner, node)
        await self.nodes.repo.purge(owner, node)
        await self.notifier.notify(owner, node, config, node_event("purge", node))
