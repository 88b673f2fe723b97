"""Each flag and env var read as the services read them at their edge (`grid.flags`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

import proxy.config
from grid.flags import (
    Flag,
    base_urls,
    count,
    env_default,
    flag_help,
    host_and_port,
    one_of,
    port,
    positive,
    switch,
)
from substation.config import FLAGS as substation_flags
from substation.config import parse_config as substation_config


@pytest.mark.parametrize(
    ("read", "text", "value"),
    [
        (port, "0", 0),
        (port, "8080", 8080),
        (port, "65535", 65535),
        (count, "0", 0),
        (count, "3", 3),
        (positive, "0.05", 0.05),
        (positive, "600", 600.0),
        (switch, "on", "on"),
        (switch, "off", "off"),
        (one_of(("headroom", "random")), "random", "random"),
        (base_urls, "", ()),
        (base_urls, " http://a:1/, http://b ,", ("http://a:1", "http://b")),
        (base_urls, "http://127.0.0.1:8000/s7", ("http://127.0.0.1:8000/s7",)),
        (host_and_port, "substation:8000", "substation:8000"),
    ],
)
def test_a_good_value_is_read(read: Callable[[str], Any], text: str, value: Any) -> None:
    assert read(text) == value


@pytest.mark.parametrize(
    ("read", "text"),
    [
        (port, "70000"),  # once served on 70000 mod 65536
        (port, "-1"),
        (port, "http"),
        (count, "-2"),
        (count, "1.5"),
        (positive, "0"),
        (positive, "-3"),
        (positive, "inf"),
        (positive, "nan"),
        (positive, "fast"),
        (switch, "of"),  # once turned the load stream off without a word
        (switch, "ON"),
        (one_of(("headroom", "random")), "fastest"),
        (base_urls, "foo"),  # once meant 127.0.0.1:80
        (base_urls, "http://a:1,ftp://b:2"),
        (base_urls, "https://a:1"),
        (base_urls, "http://a:1/s?x=1"),
        (base_urls, "http://a:99999"),
        (base_urls, "http://:8000"),
        (host_and_port, "substation"),
        (host_and_port, ":8000"),
        (host_and_port, "substation:0"),
        (host_and_port, "substation:x"),
    ],
)
def test_a_bad_value_is_refused_with_what_a_good_one_is(
    read: Callable[[str], Any], text: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        read(text)
    assert str(refused.value)


def test_an_env_var_is_read_as_its_flag_and_named_when_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="service")
    assert env_default(parser, {"PORT": "9001"}, "PORT", port, 8000) == 9001
    assert env_default(parser, {}, "PORT", port, 8000) == 8000
    assert env_default(parser, {"PORT": ""}, "PORT", port, 8000) == 8000  # Compose's ${PORT:-}
    with pytest.raises(SystemExit) as stop:
        env_default(parser, {"PORT": "80a"}, "PORT", port, 8000)
    assert stop.value.code == 2
    assert "PORT='80a': not a whole number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("parse_config", "flags"),
    [(proxy.config.parse_config, proxy.config.FLAGS), (substation_config, substation_flags)],
    ids=["proxy", "substation"],
)
def test_help_names_every_env_var_and_default_but_never_a_secret(
    capsys: pytest.CaptureFixture[str], parse_config: Callable[..., Any], flags: tuple[Flag, ...]
) -> None:
    """`--help` says where each setting comes from; an admin token set in the environment
    showed there as its default (`ADMIN_TOKEN=s3cret python -m substation --help`)."""
    env = {"ADMIN_TOKEN": "s3cret-token", "PORT": "9001", "SUBSTATIONS": "http://a:1"}
    with pytest.raises(SystemExit) as stop:
        parse_config(["--help"], env)
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "s3cret-token" not in shown
    assert "(env ADMIN_TOKEN; default: set)" in shown
    assert "(env PORT; default: 9001)" in shown
    for setting in flags:
        assert f"(env {setting.variable}; default: " in shown


def test_a_default_is_written_as_a_setting_is_given() -> None:
    assert flag_help(Flag("--x", "X", positive, 0.05, "100% of it"), 0.05) == (
        "100%% of it (env X; default: 0.05)"
    )
    assert flag_help(Flag("--x", "X", base_urls, ()), ()) == "(env X; default: none)"
    urls = ("http://a:1", "http://b")
    assert flag_help(Flag("--x", "X", base_urls, ()), urls).endswith("http://a:1,http://b)")
    assert flag_help(Flag("--t", "T", str, None, secret=True), None) == "(env T; default: not set)"


def test_a_config_never_shows_its_admin_token() -> None:
    proxy_config = proxy.config.parse_config(["--admin-token", "s3cret-token"], {"DISCOVER": "s:1"})
    substation = substation_config(["--admin-token", "s3cret-token"], {})
    for config in (proxy_config, substation):
        assert config.admin_token == "s3cret-token"
        assert "s3cret-token" not in repr(config)
