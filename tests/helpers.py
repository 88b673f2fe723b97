"""Helpers for the tests: a running grid and ways to look inside it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from grid.ledger import SessionLedger
from stack.processes import StackLayout, free_port_run
from substation.app import LEDGER

CHARGE_HITS = web.AppKey("charge_hits", Counter[str])
CHARGE_HEADERS = web.AppKey("charge_headers", list[dict[str, str]])


def count_charge_requests(app: web.Application) -> None:
    """Count (and keep the headers of) the requests that reach a substation's /charge routes."""
    app[CHARGE_HITS] = Counter()
    app[CHARGE_HEADERS] = []

    @web.middleware
    async def counting(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/charge"):
            app[CHARGE_HITS][request.method] += 1
            app[CHARGE_HEADERS].append(dict(request.headers))
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.insert(0, counting)


def stall_charges(app: web.Application, seconds: float) -> None:
    """Make a substation slow: it answers `POST /charge` only after `seconds`."""

    @web.middleware
    async def stalling(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/charge":
            await asyncio.sleep(seconds)
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.insert(0, stalling)


class FakeClock:
    """An injected clock (`create_app(config, clock)`): time moves only when a test moves it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def charges_take(app: web.Application, clock: FakeClock, seconds: float) -> None:
    """Make a substation slow in the injected clock's time: each `POST /charge` moves `clock`
    on by `seconds` before it is answered (no real waiting)."""

    @web.middleware
    async def taking_time(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/charge":
            clock.advance(seconds)
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.insert(0, taking_time)


def break_charges(app: web.Application) -> None:
    """Make a substation crash mid-request: it drops `POST /charge` connections unanswered."""

    @web.middleware
    async def dropping(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/charge" and request.transport is not None:
            request.transport.abort()
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.insert(0, dropping)


@dataclass
class Grid:
    proxy: TestClient[web.Request, web.Application]
    substation_apps: list[web.Application]
    substation_servers: list[TestServer]

    def ledgers(self) -> list[SessionLedger]:
        return [app[LEDGER] for app in self.substation_apps]

    def loads_kw(self) -> list[float]:
        return [ledger.load_kw for ledger in self.ledgers()]

    def charge_hits(self) -> int:
        return sum(sum(app[CHARGE_HITS].values()) for app in self.substation_apps)


def charge_body(vehicle_id: str = "EV-1234", amount: float = 11, **extra: object) -> dict[str, Any]:
    return {"vehicle_id": vehicle_id, "amount": amount, **extra}


JSON = "application/json"
_LONG_ID = "E" * 65


def _body(text: str) -> bytes:
    return text.encode()


# (Content-Type, body, status, error code): every SPEC 400/413/415 case of `POST /charge`.
BAD_CHARGES: list[tuple[str | None, bytes, int, str, str]] = [
    (JSON, b"{", 400, "invalid_request", "truncated JSON"),
    (JSON, b"", 400, "invalid_request", "empty body"),
    (JSON, b"null", 400, "invalid_request", "null"),
    (JSON, b"[]", 400, "invalid_request", "array"),
    (JSON, b'"EV-1"', 400, "invalid_request", "string"),
    (JSON, b"11", 400, "invalid_request", "bare number"),
    (JSON, _body('{"amount": 11}'), 400, "invalid_request", "no vehicle_id"),
    (JSON, _body('{"vehicle_id": "EV-1"}'), 400, "invalid_request", "no amount"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": 11, "x": 1}'), 400, "invalid_request", "extra"),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 11, "\\ud800": 1}'),
        400,
        "invalid_request",
        "lone surrogate name",
    ),
    (JSON, _body('{"vehicle_id": 1234, "amount": 11}'), 400, "invalid_request", "numeric id"),
    (JSON, _body('{"vehicle_id": null, "amount": 11}'), 400, "invalid_request", "null id"),
    (JSON, _body('{"vehicle_id": "", "amount": 11}'), 400, "invalid_request", "empty id"),
    (JSON, _body(f'{{"vehicle_id": "{_LONG_ID}", "amount": 11}}'), 400, "invalid_request", "65"),
    (JSON, _body('{"vehicle_id": "EV 1", "amount": 11}'), 400, "invalid_request", "space in id"),
    (JSON, _body('{"vehicle_id": "../admin", "amount": 11}'), 400, "invalid_request", "slash"),
    (JSON, _body('{"vehicle_id": "EV-\\u00e9", "amount": 11}'), 400, "invalid_request", "accent"),
    (JSON, _body('{"vehicle_id": "EV-1\\n", "amount": 11}'), 400, "invalid_request", "newline"),
    (JSON, _body('{"vehicle_id": ["EV-1"], "amount": 11}'), 400, "invalid_request", "list id"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": "11"}'), 400, "invalid_request", "text kW"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": true}'), 400, "invalid_request", "bool kW"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": null}'), 400, "invalid_request", "null kW"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": {}}'), 400, "invalid_request", "object kW"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": 0}'), 400, "invalid_request", "zero kW"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": 5e-324}'), 400, "invalid_request", "tiny kW"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": 0.0009}'), 400, "invalid_request", "0.9 W"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": -5}'), 400, "invalid_request", "negative"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": 350.001}'), 400, "invalid_request", "over 350"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": NaN}'), 400, "invalid_request", "NaN"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": Infinity}'), 400, "invalid_request", "inf"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": -Infinity}'), 400, "invalid_request", "-inf"),
    (JSON, _body('{"vehicle_id": "EV-1", "amount": 1e400}'), 400, "invalid_request", "1e400"),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 1' + "0" * 400 + "}"),
        400,
        "invalid_request",
        "huge int",
    ),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 11, "min_amount": 12}'),
        400,
        "invalid_request",
        "min over amount",
    ),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 11, "min_amount": 0}'),
        400,
        "invalid_request",
        "min zero",
    ),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 11, "min_amount": -1}'),
        400,
        "invalid_request",
        "min negative",
    ),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 11, "min_amount": "7"}'),
        400,
        "invalid_request",
        "min text",
    ),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 11, "amount": 12}'),
        400,
        "invalid_request",
        "duplicate key",
    ),
    (JSON, b'{"vehicle_id": "EV-\xff", "amount": 11}', 400, "invalid_request", "not UTF-8"),
    (JSON, b"[" * 8_000 + b"]" * 8_000, 400, "invalid_request", "deep nesting"),
    (
        "text/plain",
        _body('{"vehicle_id": "EV-1", "amount": 11}'),
        415,
        "unsupported_media_type",
        "text/plain",
    ),
    (
        None,
        _body('{"vehicle_id": "EV-1", "amount": 11}'),
        415,
        "unsupported_media_type",
        "no content type",
    ),
    (
        "application/x-www-form-urlencoded",
        b"vehicle_id=EV-1&amount=11",
        415,
        "unsupported_media_type",
        "form",
    ),
    (
        "application/jsonx",
        _body('{"vehicle_id": "EV-1", "amount": 11}'),
        415,
        "unsupported_media_type",
        "jsonx",
    ),
    (
        JSON,
        _body('{"vehicle_id": "EV-1", "amount": 11, "pad": "' + "x" * 17_000 + '"}'),
        413,
        "payload_too_large",
        "over 16 KiB",
    ),
]


def require_tool(name: str, package: str) -> str:
    """The path of a Debian tool the test needs: skipped (and said so) on a dev machine without
    it, a failure in CI, where `.ci/run` installs it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: apt-get install {package}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_stack_layout(spare_ports: int = 0, **options: Any) -> StackLayout:
    """A local stack's layout on free loopback ports (three substations, then the proxy), with
    `spare_ports` more free after the proxy's; no Prometheus unless `options` say one."""
    first = free_port_run(4 + spare_ports)
    options = {"prometheus_port": None, **options}
    return StackLayout(first_substation_port=first, proxy_port=first + 3, **options)


def write_scenario(tmp_path: Path, **keys: object) -> Path:
    """A small simulator scenario, `keys` replacing or adding to its defaults, as a file."""
    document: dict[str, object] = {
        "substations": [{"name": "a", "capacity_kw": 300}, {"name": "b", "capacity_kw": 150}],
        "duration_s": 240,
        "arrivals": {"rate": [[0, 0.5], [120, 3], [240, 0.5]]},
        "amount_kw": [7, 22],
        **keys,
    }
    path = tmp_path / "made.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def until(check: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Wait, polling every 10 ms, until `check()` holds; AssertionError after `timeout_s`."""
    for _ in range(int(timeout_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {timeout_s} s")


def current_load_kw(substation_url: str) -> float:
    """`current_load` from a running substation's `/metrics`."""
    with urllib.request.urlopen(f"{substation_url}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("current_load{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no current_load")
