"""Node configuration: forms, preconditions (XEP-0223), limits."""

from __future__ import annotations

from xml.etree.ElementTree import fromstring

import pytest

from xmpp_video.modules.pep.forms import read_form, write_form
from xmpp_video.modules.pep.model import (
    AccessModel,
    InvalidOption,
    NodeConfig,
    configured,
)
from xmpp_video.modules.pep.names import NODE_CONFIG
from xmpp_video.stanza.errors import StanzaError

LIMIT = 10


def test_defaults_and_keep() -> None:
    config = NodeConfig()
    assert config.access_model is AccessModel.PRESENCE
    assert config.keep(LIMIT) == 1
    assert config.with_option("pubsub#max_items", "max", LIMIT).keep(LIMIT) == LIMIT
    assert config.with_option("pubsub#persist_items", "0", LIMIT).keep(LIMIT) == 0


def test_values_round_trip() -> None:
    config = NodeConfig(AccessModel.OPEN, "max", title="Devices")
    assert NodeConfig.from_values(config.to_values(), LIMIT) == config
    assert NodeConfig.from_values({"pubsub#unknown": "x"}, LIMIT) == NodeConfig()


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("pubsub#access_model", "roster"),
        ("pubsub#max_items", "0"),
        ("pubsub#max_items", str(LIMIT + 1)),
        ("pubsub#max_items", "many"),
        ("pubsub#persist_items", "yes"),
        ("pubsub#publish_model", "open"),
    ],
)
def test_unsupported_values(var: str, value: str) -> None:
    with pytest.raises(InvalidOption):
        NodeConfig().with_option(var, value, LIMIT)
    assert not NodeConfig().matches(var, value, LIMIT)


def test_preconditions_normalize() -> None:
    config = NodeConfig(AccessModel.OPEN, "max")
    assert config.matches("pubsub#access_model", "open", LIMIT)
    assert not config.matches("pubsub#access_model", "presence", LIMIT)
    assert config.matches("pubsub#max_items", "max", LIMIT)
    assert config.matches("pubsub#max_items", str(LIMIT), LIMIT)
    assert not config.matches("pubsub#max_items", "2", LIMIT)
    assert config.matches("pubsub#persist_items", "1", LIMIT)
    assert config.matches("pubsub#persist_items", "true", LIMIT)
    assert not config.matches("pubsub#persist_items", "false", LIMIT)
    assert not config.matches("pubsub#notify_sub", "1", LIMIT)  # unknown: never met


def test_configure_form_round_trip() -> None:
    form = write_form(NODE_CONFIG, NodeConfig(AccessModel.WHITELIST, 3).form_fields(LIMIT))
    form.set("type", "submit")
    submitted = read_form(form)
    assert submitted.form_type == NODE_CONFIG
    assert configured(NodeConfig(), submitted, LIMIT) == NodeConfig(AccessModel.WHITELIST, 3)


def test_configure_refuses_bad_values_and_forms() -> None:
    bad = read_form(
        fromstring(
            "<x xmlns='jabber:x:data' type='submit'>"
            "<field var='pubsub#access_model'><value>authorize</value></field></x>"
        )
    )
    with pytest.raises(StanzaError) as refused:
        configured(NodeConfig(), bad, LIMIT)
    assert refused.value.condition == "not-acceptable"
    form = read_form(fromstring("<x xmlns='jabber:x:data' type='form'/>"))
    with pytest.raises(StanzaError) as refused:
        configured(NodeConfig(), form, LIMIT)
    assert refused.value.condition == "bad-request"
