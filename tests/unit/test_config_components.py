"""COMPONENTS (XEP-0114 secrets): parsing, refusals that name the variable but never a secret,
production checks, and what `xmpp-video check` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmpp_video.cli.commands import check
from xmpp_video.config import ConfigError, Settings, load_settings

PRODUCTION = {"XMPP_VIDEO_ENV": "production", "JWT_SECRET": "j" * 40, "TURN_SECRET": "t" * 40}
LONG = "a-secret-of-24-characters"


def test_components_parse_into_prepared_domains() -> None:
    s = load_settings(environ={"COMPONENTS": f" GW.Example.com = {LONG} , bot.example.com=x=y=z ,"})
    assert s.component_secrets == {"gw.example.com": LONG, "bot.example.com": "x=y=z"}
    assert s.component_bind_host == "127.0.0.1"
    assert s.component_port == 5347
    assert load_settings(environ={}).component_secrets == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gw.example.com", "item 1 is not domain=secret"),
        ("gw.example.com=", "gw.example.com has no secret"),
        ("gw.example.com=  ", "gw.example.com has no secret"),
        (f"a b=c, gw.example.com={LONG}", "item 1 does not start with a domain"),
        (f"gw.example.com={LONG}, gw.example.com={LONG}", "gw.example.com is listed twice"),
        (f"localhost={LONG}", "localhost is the server's own domain"),
        ("gw.example.com=top,secret", "item 2 is not domain=secret"),
    ],
)
def test_bad_components_are_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^COMPONENTS: ") as caught:
        load_settings(environ={"COMPONENTS": value})
    assert message in str(caught.value)
    assert "secret," not in str(caught.value)  # never a piece of a secret


@pytest.mark.parametrize("secret", ["changeme", "secret", "dev-whatever-it-is-here", "tiny"])
def test_production_refuses_default_or_short_component_secrets(secret: str) -> None:
    env = {**PRODUCTION, "COMPONENTS": f"gw.example.com={secret}"}
    with pytest.raises(ConfigError, match=r"COMPONENTS: the secret of gw\.example\.com") as caught:
        load_settings(environ=env)
    assert secret not in str(caught.value).replace("the secret of", "")
    load_settings(environ={"COMPONENTS": f"gw.example.com={secret}"})  # development: allowed


def test_production_accepts_a_long_component_secret() -> None:
    s = load_settings(environ={**PRODUCTION, "COMPONENTS": f"gw.example.com={LONG}"})
    assert s.component_secrets == {"gw.example.com": LONG}


def test_check_prints_the_component_listener(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = Settings(data_dir=tmp_path, components=f"gw.example.com={LONG}")
    assert check(base) == 0
    out = capsys.readouterr().out
    assert "components      127.0.0.1:5347  (XEP-0114: gw.example.com)" in out
    assert LONG not in out
    assert check(Settings(data_dir=tmp_path)) == 0
    assert "components " not in capsys.readouterr().out  # no components: no listener
