"""Flags and env vars as both services read them at their edge (`proxy.config`,
`substation.config`): each value checked as it is read, so that a mistyped setting stops the
service with a usage error that names it (exit 2), never a traceback, a silent default or a
different value (a port of 70000 served on 4464; `LOAD_STREAM=of` turning the stream off;
`--substations foo` meaning 127.0.0.1:80).

Each reader is an argparse `type`: it takes the text and returns the value, or raises
`argparse.ArgumentTypeError` with what a good value is. `env_default` reads an env var with the
same reader, so a flag and its env var refuse the same things.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

Value = TypeVar("Value")

SWITCH = ("on", "off")
SWITCH_METAVAR = "{on,off}"


@dataclass(frozen=True, slots=True)
class Flag:
    """One setting: its flag, its env var, how its text is read (an argparse `type`), and its
    value when neither is given. A service's flags are a table of these (`add_flags`)."""

    flag: str
    variable: str
    read: Callable[[str], Any]
    fallback: Any
    help: str | None = None
    metavar: str | None = None
    # A secret (an admin token): its help says whether it is set, never what it is.
    secret: bool = False


def listen_flags(default_host: str, default_port: int) -> tuple[Flag, Flag]:
    """`--host` and `--port`, where a service listens: the same two flags in both (SPEC)."""
    return (
        Flag("--host", "HOST", str, default_host, "address to listen on"),
        Flag("--port", "PORT", port, default_port, "port to listen on"),
    )


def service_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A service's parser (`add_flags` writes each flag's env var and default into its help)."""
    return argparse.ArgumentParser(prog=prog, description=description)


def add_flags(
    parser: argparse.ArgumentParser, env: Mapping[str, str], flags: Iterable[Flag]
) -> None:
    """Each of `flags`, defaulting to its env var (`env_default`), to its fallback without."""
    for setting in flags:
        default = env_default(parser, env, setting.variable, setting.read, setting.fallback)
        parser.add_argument(
            setting.flag,
            type=setting.read,
            default=default,
            help=flag_help(setting, default),
            metavar=setting.metavar,
        )


def flag_help(setting: Flag, default: object) -> str:
    """The flag's help, then its env var and the default in effect (the env var's value, if it
    is set); a secret's only as set or not, as `--help` ends up in terminals and logs."""
    if setting.secret:
        shown = "set" if default else "not set"
    elif default is None or default == ():
        shown = "none"
    elif isinstance(default, float):
        shown = f"{default:g}"
    elif isinstance(default, tuple):
        shown = ",".join(map(str, default))
    else:
        shown = str(default)
    where = f"env {setting.variable}; default: {shown}"
    text = f"{setting.help} ({where})" if setting.help else f"({where})"
    return text.replace("%", "%%")  # argparse formats help with %: a literal one is doubled


def add_flag(
    parser: argparse.ArgumentParser,
    env: Mapping[str, str],
    flag: str,
    variable: str,
    read: Callable[[str], Value],
    fallback: Value,
    help: str | None = None,
) -> None:
    """One flag, as `add_flags` adds each."""
    add_flags(parser, env, [Flag(flag, variable, read, fallback, help)])


def env_default(
    parser: argparse.ArgumentParser,
    env: Mapping[str, str],
    variable: str,
    read: Callable[[str], Value],
    fallback: Value,
) -> Value:
    """Env var `variable` read by `read` (a flag's `type`), or `fallback` if it is not set or
    empty (as Compose leaves an unset `${VAR:-}`). A value `read` refuses stops the program as
    a bad flag does, even if a flag would win."""
    text = env.get(variable)
    if not text:
        return fallback
    try:
        return read(text)
    except (argparse.ArgumentTypeError, ValueError) as error:
        parser.error(f"{variable}={text!r}: {error}")


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free one)."""
    number = _whole(text)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {number}")
    return number


def count(text: str) -> int:
    """A whole number, 0 or more."""
    number = _whole(text)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {number}")
    return number


def positive(text: str) -> float:
    """A finite number above 0 (seconds, kW)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text}")
    return number


def switch(text: str) -> str:
    """`on` or `off`, as the text says (read with `== "on"`)."""
    if text not in SWITCH:
        raise argparse.ArgumentTypeError(f"on or off, not {text!r}")
    return text


def one_of(names: tuple[str, ...]) -> Callable[[str], str]:
    """A reader of one of `names`; its error lists them."""

    def named(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"one of {', '.join(names)}, not {text!r}")
        return text

    return named


def base_urls(text: str) -> tuple[str, ...]:
    """Comma-separated `http://host[:port][/path]` base URLs (spaces and a trailing `/`
    dropped); a path is where a front mounts the substation (`bench.city` mounts many)."""
    return tuple(base_url(part) for part in text.split(",") if part.strip())


def base_url(text: str) -> str:
    url = text.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a URL with a valid port: {text!r}") from None
    if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"a substation's base URL is http://host[:port][/path], no more: {text!r}"
        )
    return url


def host_and_port(text: str) -> str:
    """`host:port` (a DNS name to resolve, and the port its substations listen on)."""
    host, _, port_text = text.strip().rpartition(":")
    if not host or not port_text:
        raise argparse.ArgumentTypeError(f"host:port, not {text!r}")
    if not port(port_text) > 0:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {port_text}")
    return text.strip()


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
