"""The proxy follows every substation's load stream: real substation apps on loopback, polls
once a minute (so whatever the proxy learns here, it learned from the streams)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from proxy.app import ROUTER
from proxy.balancer import Balancer
from tests.helpers import Grid, charge_body, until

GridFactory = Callable[..., Awaitable[Grid]]


def all_streaming(balancer: Balancer) -> bool:
    return all(view.streaming for view in balancer.views())


async def test_a_charge_booked_behind_the_proxys_back_reaches_its_view(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500])
    balancer = grid.proxy.app[ROUTER].balancer
    await until(lambda: all_streaming(balancer))
    url = grid.substation_servers[1].make_url("/charge")
    async with grid.proxy.session.post(url, json=charge_body("EV-elsewhere", 120)) as answer:
        assert answer.status == 201
    await until(lambda: balancer.views()[1].load_kw == 120)
    assert [view.health for view in balancer.views()] == ["healthy", "healthy"]


async def test_a_substation_that_stops_is_out_when_its_stream_breaks(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500])
    balancer = grid.proxy.app[ROUTER].balancer
    await until(lambda: all_streaming(balancer))
    await grid.substation_servers[0].close()
    await until(lambda: balancer.views()[0].health == "down")
    assert not balancer.views()[0].streaming
    answer = await grid.proxy.post("/charge", json=charge_body("EV-1", 10))
    assert answer.headers["X-Substation"] == "substation2"


async def test_with_the_stream_off_the_proxy_learns_only_from_polls_and_answers(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500], load_stream=False)
    balancer = grid.proxy.app[ROUTER].balancer
    url = grid.substation_servers[1].make_url("/charge")
    async with grid.proxy.session.post(url, json=charge_body("EV-elsewhere", 120)):
        pass
    await asyncio.sleep(0.3)
    assert balancer.views()[1].load_kw == 0  # until the next poll, a minute away
    assert not any(view.streaming for view in balancer.views())
