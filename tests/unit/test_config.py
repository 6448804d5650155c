"""Settings: TOML, environment overrides with the exact names of SPEC §3/§10, production checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmpp_video.config import ConfigError, Settings, load_settings, with_dev_secrets


def test_defaults_match_the_spec() -> None:
    s = load_settings(environ={})
    assert (s.xmpp_domain, s.c2s_port, s.c2s_tls_port, s.http_port, s.https_port) == (
        "localhost",
        5222,
        5223,
        8080,
        8443,
    )
    assert s.max_stanza_size == 262144
    assert s.max_json_message == 65536
    assert s.ring_timeout == 45
    assert s.shutdown_timeout == 10
    assert s.data_dir == Path("./var")
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_environment_overrides_file(tmp_path: Path) -> None:
    conf = tmp_path / "x.toml"
    conf.write_text('[xmpp_video]\nc2s_port = 6222\nxmpp_domain = "example.org"\n')
    s = load_settings(conf, environ={"C2S_PORT": "7222", "ADMINS": "a@example.org, B@example.org"})
    assert s.c2s_port == 7222
    assert s.xmpp_domain == "example.org"
    assert s.admin_jids == {"a@example.org", "b@example.org"}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"C2S_PORT": "many"}, "C2S_PORT"),
        ({"C2S_PORT": "70000"}, "C2S_PORT"),
        ({"SHUTDOWN_TIMEOUT": "31"}, "SHUTDOWN_TIMEOUT"),
        ({"REQUIRE_TLS": "perhaps"}, "REQUIRE_TLS"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ],
)
def test_invalid_values_name_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings(environ=env)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "x.toml"
    conf.write_text("c2s_prot = 1\n")
    with pytest.raises(ConfigError, match="c2s_prot"):
        load_settings(conf, environ={})


@pytest.mark.parametrize(
    "env",
    [
        {"XMPP_VIDEO_ENV": "production"},
        {"XMPP_VIDEO_ENV": "production", "JWT_SECRET": "x" * 40},
        {"XMPP_VIDEO_ENV": "production", "JWT_SECRET": "x" * 40, "TURN_SECRET": "changeme"},
    ],
)
def test_production_refuses_missing_or_default_secrets(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"JWT_SECRET|TURN_SECRET"):
        load_settings(environ=env)


def test_production_flag_with_real_secrets() -> None:
    s = load_settings(environ={"JWT_SECRET": "j" * 40, "TURN_SECRET": "t" * 40}, production=True)
    assert s.production


def test_dev_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    first = with_dev_secrets(s)
    second = with_dev_secrets(s)
    assert first.jwt_secret
    assert first.turn_secret
    assert first.jwt_secret != first.turn_secret
    assert (first.jwt_secret, first.turn_secret) == (second.jwt_secret, second.turn_secret)
    assert (tmp_path / "secrets.toml").stat().st_mode & 0o077 == 0


def test_example_config_documents_every_setting() -> None:
    example = Path(__file__).parents[2] / "conf" / "xmpp_video.toml"
    text = example.read_text()
    for name, _default, _doc in Settings.describe():
        assert f"\n{name.lower()} = " in text, name
    load_settings(example, environ={})
