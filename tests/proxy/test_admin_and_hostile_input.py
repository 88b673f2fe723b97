"""The proxy's admin API, slow clients and slow substations, in front of real substation apps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from grid import httpio
from tests.helpers import Grid, charge_body

GridFactory = Callable[..., Awaitable[Grid]]
AUTH = {"Authorization": "Bearer grid-secret"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer nope"}, 403), (AUTH, 200)],
)
async def test_proxy_admin_needs_its_token(
    start_grid: GridFactory, headers: dict[str, str], status: int
) -> None:
    grid = await start_grid([500, 500], admin_token="grid-secret", substation_token="grid-secret")
    answer = await grid.proxy.post("/admin/substations/substation1/drain", headers=headers)
    assert answer.status == status
    assert grid.ledgers()[0].draining is (status == 200)


async def test_drained_substation_gets_no_new_charges_and_keeps_its_sessions(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500], admin_token="grid-secret", substation_token="grid-secret")
    first = await grid.proxy.post("/charge", json=charge_body("EV-0", 50))
    assert first.headers["X-Substation"] == "substation1"
    drained = await grid.proxy.post("/admin/substations/substation1/drain", headers=AUTH)
    assert (await drained.json())["draining"] is True
    for number in range(1, 6):
        answer = await grid.proxy.post("/charge", json=charge_body(f"EV-{number}", 10))
        assert answer.headers["X-Substation"] == "substation2"
    assert grid.loads_kw() == [50, 50]
    listing = await (await grid.proxy.get("/substations")).json()
    assert [entry["draining"] for entry in listing] == [True, False]
    await grid.proxy.post("/admin/substations/substation1/resume", headers=AUTH)
    answer = await grid.proxy.post("/charge", json=charge_body("EV-9", 10))
    assert answer.headers["X-Substation"] == "substation1"


async def test_admin_of_an_unknown_substation_is_404(start_grid: GridFactory) -> None:
    grid = await start_grid([500], admin_token="grid-secret", substation_token="grid-secret")
    answer = await grid.proxy.post("/admin/substations/nowhere/drain", headers=AUTH)
    assert answer.status == 404


async def test_no_path_reaches_a_substations_admin_api(start_grid: GridFactory) -> None:
    grid = await start_grid([500], substation_token="grid-secret")
    for path in ("/admin/drain", "/charge/../admin/drain", "/charge/%2e%2e%2fadmin%2fdrain"):
        answer = await grid.proxy.post(path, headers=AUTH)
        assert answer.status in (404, 405)
    assert grid.ledgers()[0].draining is False


async def test_a_trickled_body_is_cut_off_with_408(
    start_grid: GridFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpio, "BODY_TIMEOUT_S", 0.3)
    grid = await start_grid([500])
    port = grid.proxy.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /charge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 40\r\n\r\n{"vehicle'
    )
    await writer.drain()
    started = time.monotonic()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 2
    writer.close()
    assert grid.charge_hits() == 0


async def test_a_slow_substation_ends_requests_within_the_bound_then_is_avoided(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid(
        [500, 500], stall_s={0: 3.0}, upstream_timeout_s=0.5, connect_timeout_s=0.5
    )
    outcomes = []
    for number in range(6):
        started = time.monotonic()
        answer = await grid.proxy.post("/charge", json=charge_body(f"EV-{number}", 10))
        outcomes.append((answer.status, time.monotonic() - started))
        if answer.status == 504:
            assert (await answer.json())["error"] == "upstream_timeout"
    assert all(seconds < 1.0 for _, seconds in outcomes)  # the bound is 0.5 s
    # A timeout makes it suspect, a second one takes it out; then the fast one serves.
    assert [status for status, _ in outcomes] == [504, 504, 201, 201, 201, 201]
    listing = await (await grid.proxy.get("/substations")).json()
    assert [entry["health"] for entry in listing] == ["down", "healthy"]


async def test_a_substation_that_breaks_off_is_passed_over_without_a_5xx(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500], broken=frozenset({0}))
    answers = [await grid.proxy.post("/charge", json=charge_body(f"EV-{n}", 10)) for n in range(4)]
    assert [answer.status for answer in answers] == [201] * 4
    assert {answer.headers["X-Substation"] for answer in answers} == {"substation2"}
    listing = await (await grid.proxy.get("/substations")).json()
    assert listing[0]["health"] in ("suspect", "down")
