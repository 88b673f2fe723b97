"""Fixtures shared by every test: a grid of real substation apps behind a real proxy app."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient, TestServer

from grid.httpio import route_hot_first
from proxy.app import create_app as create_proxy_app
from proxy.config import ProxyConfig
from substation.app import create_app as create_substation_app
from substation.config import SubstationConfig
from tests.helpers import (
    FakeClock,
    Grid,
    break_charges,
    charges_take,
    count_charge_requests,
    stall_charges,
)

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
GridFactory = Callable[..., Awaitable[Grid]]


@pytest.fixture
def aiohttp_server(aiohttp_server: ServerFactory) -> ServerFactory:
    """pytest-aiohttp's, serving an app as `grid.httpio.serve` does: its hot route first."""

    async def serve(app: web.Application, **options: object) -> TestServer:
        server = await aiohttp_server(app, **options)
        assert server.runner is not None and server.runner.server is not None
        route_hot_first(server.runner.server, app)  # before any connection is made
        return server

    return serve


@pytest.fixture
def aiohttp_client(aiohttp_server: ServerFactory, aiohttp_client: Any) -> Any:
    """pytest-aiohttp's; an app is served through `aiohttp_server` above."""

    async def connect(app_or_server: web.Application | BaseTestServer, **options: object) -> Any:
        if isinstance(app_or_server, web.Application):
            app_or_server = await aiohttp_server(app_or_server)
        return await aiohttp_client(app_or_server, **options)

    return connect


@pytest.fixture
def start_grid(aiohttp_server: ServerFactory, aiohttp_client: ClientFactory) -> GridFactory:
    """`await start_grid([500, 500], policy=...)`: substation apps and a proxy app on loopback."""

    async def start(
        capacities_kw: list[float],
        session_seconds: float = 60.0,
        substation_token: str | None = None,
        stall_s: dict[int, float] | None = None,
        broken: frozenset[int] = frozenset(),
        clock: FakeClock | None = None,
        takes_s: dict[int, float] | None = None,
        **proxy_options: object,
    ) -> Grid:
        """`stall_s` {index: seconds}: that substation answers /charge that much later;
        `broken` {index}: that substation drops every /charge connection unanswered;
        `clock`: every service reads it instead of the wall clock; `takes_s` {index: seconds}:
        each /charge at that substation moves `clock` on by that much."""
        substation_apps, servers = [], []
        for index, capacity_kw in enumerate(capacities_kw):
            config = SubstationConfig(
                name=f"substation{index + 1}",
                capacity_kw=capacity_kw,
                session_seconds=session_seconds,
                admin_token=substation_token,
            )
            app = create_substation_app(config, clock or time.time)
            count_charge_requests(app)
            if clock is not None and takes_s and index in takes_s:
                charges_take(app, clock, takes_s[index])
            if stall_s and index in stall_s:
                stall_charges(app, stall_s[index])
            if index in broken:
                break_charges(app)
            substation_apps.append(app)
            servers.append(await aiohttp_server(app))
        urls = tuple(str(server.make_url("")).rstrip("/") for server in servers)
        options: dict[str, object] = {"poll_interval_s": 60.0, **proxy_options}
        proxy_config = ProxyConfig(substations=urls, **options)  # type: ignore[arg-type]
        client = await aiohttp_client(create_proxy_app(proxy_config, clock=clock or time.time))
        return Grid(client, substation_apps, servers)

    return start
