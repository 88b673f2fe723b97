"""The poll of `/metrics`: parsing the substation's text, and a round against real apps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest
from proxy.app import POLLER, ROUTER
from proxy.poller import Poller, parse_metrics, resolve_substations
from substation.metrics import SubstationMetrics
from tests.helpers import Grid, charge_body

GridFactory = Callable[..., Awaitable[Grid]]


def test_parse_reads_the_substations_own_metrics() -> None:
    ledger = SessionLedger("east", 400, 60)
    ledger.admit(ChargeRequest("EV-1", 22, 22), 1_800_000_000.0)
    ledger.draining = True
    text = SubstationMetrics(ledger).render([])[0].decode()
    reading = parse_metrics(text)
    assert (reading.name, reading.load_kw, reading.capacity_kw, reading.draining) == (
        "east",
        22,
        400,
        True,
    )


@pytest.mark.parametrize("text", ["", "# nothing\n", "current_load 5\n", "garbage {{{\n"])
def test_parse_refuses_metrics_without_load_and_capacity(text: str) -> None:
    with pytest.raises(ValueError):
        parse_metrics(text)


async def test_a_poll_round_learns_load_capacity_and_names(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 250], load_stream=False)
    for n, server in enumerate(grid.substation_servers):
        async with grid.proxy.session.post(
            server.make_url("/charge"), json={"vehicle_id": f"EV-{n}", "amount": 30 + n}
        ):
            pass
    router = grid.proxy.app[ROUTER]
    await grid.proxy.app[POLLER].poll_round()
    views = router.balancer.views()
    assert [(v.name, v.load_kw, v.polled_load_kw, v.capacity_kw) for v in views] == [
        ("substation1", 30, 30, 500),
        ("substation2", 31, 31, 250),
    ]


async def test_a_poll_takes_the_sequence_and_the_sums_the_substation_answers_with(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500], load_stream=False)
    async with grid.proxy.post("/charge", json=charge_body("EV-1", 30)) as answer:
        assert answer.status == 201
    ledger, balancer = grid.ledgers()[0], grid.proxy.app[ROUTER].balancer
    ledger.admit(ChargeRequest("EV-2", 20, 20), time.time())  # booked by someone else
    await grid.proxy.app[POLLER].poll_round()
    (view,) = balancer.views()
    assert (view.load_kw, view.report_seq) == (50, (ledger.epoch, ledger.version))
    assert balancer.ref is not None and view.seen == {balancer.ref: 30_000}  # watts it asked


async def test_a_poll_refused_a_connection_takes_a_substation_out_at_once(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500], load_stream=False)
    await grid.substation_servers[0].close()
    poller, balancer = grid.proxy.app[POLLER], grid.proxy.app[ROUTER].balancer
    await poller.poll_round()
    assert [v.health for v in balancer.views()] == ["down", "healthy"]
    assert [v.unreachable for v in balancer.views()] == [True, False]


async def test_between_rounds_only_substations_taken_out_are_polled_until_back(
    start_grid: GridFactory,
) -> None:
    """substation1 refused a connection, but is back: polls every 50 ms between 10-second
    rounds see it back in service (two good checks), without polling substation2 meanwhile."""
    grid = await start_grid([500, 500], load_stream=False)
    balancer = grid.proxy.app[ROUTER].balancer
    first, second = balancer.views()
    balancer.record_health(first.key, "refused")
    polled_at = second.reported_at
    upstream = grid.proxy.app[ROUTER].upstream
    poller = Poller(balancer, upstream, time.time, 10.0, down_interval_s=0.05)
    async with poller.running():
        await asyncio.sleep(0.5)
    assert (first.health, second.health) == ("healthy", "healthy")
    assert second.reported_at == polled_at


async def test_discovery_resolves_a_name_to_substation_urls() -> None:
    assert await resolve_substations("localhost:8001") == ["http://127.0.0.1:8001"]
    assert await resolve_substations("no-such-host.invalid:8001") == []
