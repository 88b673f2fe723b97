"""Each flag and env var read as the services read them at their edge (`grid.flags`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from grid.flags import base_urls, count, env_default, host_and_port, one_of, port, positive, switch


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
