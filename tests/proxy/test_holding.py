"""Charges that wait for room (`max_wait_s`) at the proxy, in front of real substation apps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import ClientResponse

from proxy.app import ROUTER
from tests.helpers import Grid, charge_body

GridFactory = Callable[..., Awaitable[Grid]]


async def fill(grid: Grid, kw: float = 100) -> str:
    answer = await grid.proxy.post("/charge", json=charge_body("EV-full", kw))
    assert answer.status == 201
    return str((await answer.json())["session_id"])


async def until_waiting(grid: Grid, count: int) -> None:
    hold = grid.proxy.app[ROUTER].hold
    for _ in range(200):
        if len(hold) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(hold)} waiting, not {count}")


async def test_a_waiting_charge_gets_power_when_a_session_stops(start_grid: GridFactory) -> None:
    grid = await start_grid([100])
    session_id = await fill(grid)
    waiting = asyncio.create_task(
        grid.proxy.post("/charge", json=charge_body("EV-1", 40, max_wait_s=30))
    )
    await until_waiting(grid, 1)
    listing = await grid.proxy.get("/substations")
    assert listing.headers["X-Charges-Waiting"] == "1"
    assert "proxy_waiting_requests 1" in await (await grid.proxy.get("/metrics")).text()
    await grid.proxy.delete(f"/charge/{session_id}")
    answer: ClientResponse = await asyncio.wait_for(waiting, 5)
    assert answer.status == 201
    assert grid.loads_kw() == [40]
    assert len(grid.proxy.app[ROUTER].hold) == 0


async def test_a_charge_that_waits_too_long_gets_503_and_books_nothing(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([100])
    await fill(grid)
    answer = await grid.proxy.post("/charge", json=charge_body("EV-1", 40, max_wait_s=0.3))
    assert answer.status == 503
    assert int(answer.headers["Retry-After"]) >= 1
    assert (await answer.json())["error"] == "no_capacity"
    assert grid.loads_kw() == [100]
    assert len(grid.proxy.app[ROUTER].hold) == 0


async def test_waiting_charges_are_served_first_come_first_served(start_grid: GridFactory) -> None:
    grid = await start_grid([100])
    session_id = await fill(grid)
    first = asyncio.create_task(
        grid.proxy.post("/charge", json=charge_body("EV-first", 60, max_wait_s=30))
    )
    await until_waiting(grid, 1)
    second = asyncio.create_task(
        grid.proxy.post("/charge", json=charge_body("EV-second", 60, max_wait_s=1))
    )
    await until_waiting(grid, 2)
    await grid.proxy.delete(f"/charge/{session_id}")
    assert (await asyncio.wait_for(first, 5)).status == 201
    assert (await asyncio.wait_for(second, 5)).status == 503  # 40 kW left: not enough
    assert grid.loads_kw() == [60]


async def test_without_max_wait_a_full_grid_refuses_at_once(start_grid: GridFactory) -> None:
    grid = await start_grid([100])
    await fill(grid)
    answer = await grid.proxy.post("/charge", json=charge_body("EV-1", 40))
    assert answer.status == 503
    assert len(grid.proxy.app[ROUTER].hold) == 0
