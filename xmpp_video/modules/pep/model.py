"""Node configuration (XEP-0060 §16.4.3) as PEP uses it, and the pubsub errors (§7, §8).

A node's configuration is a `NodeConfig`; storage keeps it as form field values
(`NodeConfig.to_values` / `NodeConfig.from_values`). The options understood:

* ``pubsub#access_model``: ``open``, ``presence`` (default), ``whitelist`` (the owner only);
* ``pubsub#max_items``: 1 (default) to `PEP_MAX_ITEMS`, or ``max`` (that limit);
* ``pubsub#persist_items``: boolean, default true (false: items are notified, not kept);
* ``pubsub#deliver_notifications``, ``pubsub#deliver_payloads``: booleans, default true
  (without payloads, notifications carry item ids only);
* ``pubsub#send_last_published_item``: ``on_sub_and_presence`` (default) or ``never``;
* ``pubsub#publish_model``: ``publishers`` (the owner) only;
* ``pubsub#title``: text.

A configuration form (``configure``, ``create``) ignores fields it does not know, and an
unsupported value of a known field is ``not-acceptable``. Publish options (XEP-0223) are
preconditions: every field must be known and match the node's configuration (after
normalization: ``1``/``true``, ``max``/the limit), otherwise the publish fails with
``conflict`` + ``precondition-not-met``; a node that does not exist yet is created with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from xmpp_video.modules.pep.forms import FormField, SubmittedForm
from xmpp_video.modules.pep.names import ERRORS, NODE_CONFIG
from xmpp_video.stanza.conditions import StanzaErrorCondition, StanzaErrorType
from xmpp_video.stanza.errors import StanzaError

# the column sizes of storage (``PEP_NODE_LENGTH``, ``PEP_ITEM_ID_LENGTH``), in characters
MAX_NODE_LENGTH: Final = 255
MAX_ITEM_ID_LENGTH: Final = 255


class AccessModel(StrEnum):
    OPEN = "open"
    PRESENCE = "presence"
    WHITELIST = "whitelist"


class SendLast(StrEnum):
    NEVER = "never"
    ON_SUB_AND_PRESENCE = "on_sub_and_presence"


MaxItems = int | Literal["max"]

ACCESS_MODEL: Final = "pubsub#access_model"
MAX_ITEMS: Final = "pubsub#max_items"
PERSIST_ITEMS: Final = "pubsub#persist_items"
DELIVER_NOTIFICATIONS: Final = "pubsub#deliver_notifications"
DELIVER_PAYLOADS: Final = "pubsub#deliver_payloads"
SEND_LAST: Final = "pubsub#send_last_published_item"
PUBLISH_MODEL: Final = "pubsub#publish_model"
TITLE: Final = "pubsub#title"
KNOWN: Final = frozenset(
    (
        ACCESS_MODEL,
        MAX_ITEMS,
        PERSIST_ITEMS,
        DELIVER_NOTIFICATIONS,
        DELIVER_PAYLOADS,
        SEND_LAST,
        PUBLISH_MODEL,
        TITLE,
    )
)


class InvalidOption(ValueError):
    """A configuration field has a value this service does not support."""


def pubsub_error(
    condition: StanzaErrorCondition,
    specific: str | None = None,
    text: str = "",
    *,
    type_: StanzaErrorType | None = None,
    feature: str | None = None,
) -> StanzaError:
    """A stanza error with a ``pubsub#errors`` condition (``specific``), as XEP-0060 writes
    them; ``feature`` for ``<unsupported feature='…'/>``."""
    return StanzaError(
        condition,
        text,
        type_=type_,
        specific=None if specific is None else f"{{{ERRORS}}}{specific}",
        specific_attrs=None if feature is None else {"feature": feature},
    )


def nodeid_required() -> StanzaError:
    return pubsub_error(StanzaErrorCondition.BAD_REQUEST, "nodeid-required")


def unsupported(feature: str) -> StanzaError:
    return pubsub_error(
        StanzaErrorCondition.FEATURE_NOT_IMPLEMENTED,
        "unsupported",
        type_=StanzaErrorType.CANCEL,
        feature=feature,
    )


def check_node_name(node: str | None) -> str:
    if not node:
        raise nodeid_required()
    if len(node) > MAX_NODE_LENGTH:
        raise StanzaError(
            StanzaErrorCondition.NOT_ACCEPTABLE, f"node names have at most {MAX_NODE_LENGTH} chars"
        )
    return node


def _bool(value: str) -> bool:
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise InvalidOption(f"not a boolean: {value!r}")


def _text_bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class NodeConfig:
    access_model: AccessModel = AccessModel.PRESENCE
    max_items: MaxItems = 1
    persist_items: bool = True
    deliver_notifications: bool = True
    deliver_payloads: bool = True
    send_last: SendLast = SendLast.ON_SUB_AND_PRESENCE
    title: str = ""

    def keep(self, limit: int) -> int:
        """How many items the node keeps, `limit` being the service's maximum."""
        if not self.persist_items:
            return 0
        return limit if self.max_items == "max" else min(self.max_items, limit)

    # -- as form values (storage, forms) -------------------------------------------------

    def to_values(self) -> dict[str, str]:
        return {
            ACCESS_MODEL: str(self.access_model),
            MAX_ITEMS: str(self.max_items),
            PERSIST_ITEMS: _text_bool(self.persist_items),
            DELIVER_NOTIFICATIONS: _text_bool(self.deliver_notifications),
            DELIVER_PAYLOADS: _text_bool(self.deliver_payloads),
            SEND_LAST: str(self.send_last),
            PUBLISH_MODEL: "publishers",
            TITLE: self.title,
        }

    @classmethod
    def from_values(cls, values: Mapping[str, str], limit: int) -> NodeConfig:
        """The configuration `values` describe on top of the defaults; unknown keys are
        ignored; raises `InvalidOption` for an unsupported value."""
        config = cls()
        for var, value in values.items():
            config = config.with_option(var, value, limit)
        return config

    def with_option(self, var: str, value: str, limit: int) -> NodeConfig:
        """This configuration with one field changed (an unknown field: unchanged)."""
        try:
            if var == ACCESS_MODEL:
                return dataclasses.replace(self, access_model=AccessModel(value))
            if var == MAX_ITEMS:
                return dataclasses.replace(self, max_items=parse_max_items(value, limit))
            if var == PERSIST_ITEMS:
                return dataclasses.replace(self, persist_items=_bool(value))
            if var == DELIVER_NOTIFICATIONS:
                return dataclasses.replace(self, deliver_notifications=_bool(value))
            if var == DELIVER_PAYLOADS:
                return dataclasses.replace(self, deliver_payloads=_bool(value))
            if var == SEND_LAST:
                return dataclasses.replace(self, send_last=SendLast(value))
        except ValueError as exc:
            raise InvalidOption(f"{var}: {exc}") from None
        if var == PUBLISH_MODEL:
            if value != "publishers":
                raise InvalidOption(f"{var}: only 'publishers' (the owner) may publish")
            return self
        if var == TITLE:
            return dataclasses.replace(self, title=value[:1024])
        return self

    def matches(self, var: str, value: str, limit: int) -> bool:
        """Whether the precondition ``var = value`` (XEP-0223) holds for this node."""
        if var not in KNOWN:
            return False
        try:
            wanted = self.with_option(var, value, limit)
        except InvalidOption:
            return False
        if var == MAX_ITEMS:
            return self.keep(limit) == wanted.keep(limit) or self.max_items == wanted.max_items
        return wanted == self

    def form_fields(self, limit: int) -> list[FormField]:
        values = self.to_values()
        return [
            FormField(
                ACCESS_MODEL,
                "list-single",
                [values[ACCESS_MODEL]],
                "Who may retrieve items",
                [str(m) for m in AccessModel],
            ),
            FormField(MAX_ITEMS, "text-single", [values[MAX_ITEMS]], f"Items kept (max {limit})"),
            FormField(PERSIST_ITEMS, "boolean", [values[PERSIST_ITEMS]], "Keep items"),
            FormField(
                DELIVER_NOTIFICATIONS,
                "boolean",
                [values[DELIVER_NOTIFICATIONS]],
                "Deliver event notifications",
            ),
            FormField(
                DELIVER_PAYLOADS, "boolean", [values[DELIVER_PAYLOADS]], "Notify with payloads"
            ),
            FormField(
                SEND_LAST,
                "list-single",
                [values[SEND_LAST]],
                "When to send the last published item",
                [str(s) for s in SendLast],
            ),
            FormField(
                PUBLISH_MODEL, "list-single", ["publishers"], "Who may publish", ["publishers"]
            ),
            FormField(TITLE, "text-single", [values[TITLE]], "A friendly name for the node"),
        ]


def parse_max_items(value: str, limit: int) -> MaxItems:
    if value == "max":
        return "max"
    try:
        number = int(value)
    except ValueError:
        raise InvalidOption(f"not a number: {value!r}") from None
    if not 1 <= number <= limit:
        raise InvalidOption(f"{number} is not between 1 and {limit}")
    return number


def configured(base: NodeConfig, form: SubmittedForm, limit: int) -> NodeConfig:
    """`base` changed by a submitted ``node_config`` form (``configure``, ``create``)."""
    if form.type != "submit" or form.form_type not in (None, NODE_CONFIG):
        raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "a submitted node_config form")
    config = base
    try:
        for var, values in form.values.items():
            config = config.with_option(var, values[0] if values else "", limit)
    except InvalidOption as exc:
        raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, str(exc)) from None
    return config


def precondition_not_met(text: str) -> StanzaError:
    return pubsub_error(
        StanzaErrorCondition.CONFLICT, "precondition-not-met", text, type_=StanzaErrorType.CANCEL
    )
