"""The load stream, `GET /load/stream`: newline-delimited load reports, through a real app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from grid.booked import VEHICLES_A_LINE
from grid.protocol import LoadReport, load_report_from_stream_line
from substation.app import FEED, LEDGER, create_app
from substation.config import SubstationConfig
from substation.feed import LoadFeed
from tests.helpers import charge_body

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]
AUTH = {"Authorization": "Bearer t"}


async def substation(aiohttp_client: ClientFactory, interval_s: float = 0.05) -> Client:
    config = SubstationConfig(
        name="north", capacity_kw=100.0, admin_token="t", report_interval_s=interval_s
    )
    return await aiohttp_client(create_app(config))


async def next_report(stream: ClientResponse, timeout_s: float = 2.0) -> LoadReport:
    line = await asyncio.wait_for(stream.content.readline(), timeout_s)
    assert line.endswith(b"\n"), line
    return load_report_from_stream_line(line)


async def test_a_subscriber_gets_the_report_at_once_then_every_change(
    aiohttp_client: ClientFactory,
) -> None:
    client = await substation(aiohttp_client)
    stream = await client.get("/load/stream")
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "application/x-ndjson"
    first = await next_report(stream)
    assert (first.substation, first.load_kw, first.capacity_kw, first.draining) == (
        "north",
        0.0,
        100.0,
        False,
    )
    await client.post("/charge", json=charge_body("EV-1", 40))
    booked = await next_report(stream)
    assert booked.load_kw == 40
    assert first.seq is not None and booked.seq is not None
    assert booked.seq[0] == first.seq[0] and booked.seq[1] > first.seq[1]
    await client.post("/admin/drain", headers=AUTH)
    assert (await next_report(stream)).draining is True


async def test_changes_are_coalesced_to_one_report_per_interval(
    aiohttp_client: ClientFactory,
) -> None:
    """Twenty bookings in a row, with a 0.2 s interval: a handful of reports, the last one
    with all twenty."""
    client = await substation(aiohttp_client, interval_s=0.2)
    stream = await client.get("/load/stream")
    await next_report(stream)
    started = asyncio.get_running_loop().time()
    for number in range(20):
        await client.post("/charge", json=charge_body(f"EV-{number}", 5))
    reports: list[LoadReport] = []
    while not reports or reports[-1].load_kw < 100:
        reports.append(await next_report(stream))
    elapsed = asyncio.get_running_loop().time() - started
    assert reports[-1].load_kw == 100
    assert len(reports) <= elapsed / 0.2 + 2, (len(reports), elapsed)
    assert client.app[FEED].published <= elapsed / 0.2 + 3


async def test_every_subscriber_gets_the_same_newest_report(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    streams = [await client.get("/load/stream") for _ in range(16)]
    for stream in streams:
        await next_report(stream)
    assert client.app[FEED].subscribers == 16
    await client.post("/charge", json=charge_body("EV-1", 30))
    reports = [await next_report(stream) for stream in streams]
    assert {(report.load_kw, report.seq) for report in reports} == {(30.0, reports[0].seq)}


async def test_a_quiet_substation_repeats_its_report_as_a_heartbeat(
    aiohttp_client: ClientFactory,
) -> None:
    client = await substation(aiohttp_client)
    stream = await client.get("/load/stream")
    first = await next_report(stream)
    again = await next_report(stream, timeout_s=3.0)  # nothing changed: a heartbeat
    assert again == first


async def test_a_subscriber_that_leaves_is_let_go(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    stream = await client.get("/load/stream")
    await next_report(stream)
    stream.close()
    for _ in range(100):
        await client.post("/charge", json=charge_body("EV-1", 1))  # a change to write
        if client.app[FEED].subscribers == 0:
            break
        await asyncio.sleep(0.02)
    assert client.app[FEED].subscribers == 0
    assert client.app[LEDGER].load_kw == 1


async def test_publishing_stops_when_its_cancel_comes_with_a_change() -> None:
    """Before Python 3.12 `asyncio.wait_for` returned the change and lost the cancel; the loop
    then ran on, and the service's shutdown (a test's teardown, in CI) waited for ever."""
    report = LoadReport("north", 0.0, 100.0)
    feed = LoadFeed(lambda: report, interval_s=0.01, heartbeat_s=60.0)
    publishing = asyncio.create_task(feed.publish_forever())
    await asyncio.sleep(0.05)  # published once, now waiting for a change
    feed.changed()
    publishing.cancel()
    await asyncio.wait({publishing}, timeout=2.0)
    assert publishing.cancelled()


async def test_each_line_carries_the_sessions_booked_lately_with_who_asked(
    aiohttp_client: ClientFactory,
) -> None:
    """Every proxy hears of every booking (`grid.booked`): a line carries those of the last
    five report intervals (here 1 s), each with the sequence of the first report that holds
    it and the worker that asked; a refused charge books nothing."""
    client = await substation(aiohttp_client, interval_s=0.2)
    stream = await client.get("/load/stream")
    assert (await next_report(stream)).booked is None
    answer = await client.post(
        "/charge", json=charge_body("EV-1", 40), headers={"X-Proxy-Ref": "ab12.3"}
    )
    session = await answer.json()
    await client.post("/charge", json=charge_body("EV-2", 80, min_amount=70))  # refused: full
    await client.post("/charge", json=charge_body("EV-3", 20))
    report = await next_report(stream)
    while report.booked is None or len(report.booked) < 2:
        report = await next_report(stream)
    assert report.seq is not None
    first, second = report.booked
    assert (first.ref, first.kw, second.ref, second.kw) == ("ab12.3", 40.0, "", 20.0)
    assert first.seq == int(answer.headers["X-Substation-Load-Seq"].rpartition("-")[2])
    assert first.seq < second.seq <= report.seq[1]
    assert first.ends_at == pytest.approx(
        datetime.fromisoformat(session["ends_at"]).timestamp(), abs=0.002
    )  # the stream rounds to the millisecond, the session's RFC 3339 time cuts to it


async def test_a_new_subscriber_hears_first_of_every_vehicle_charging_here(
    aiohttp_client: ClientFactory,
) -> None:
    """Its first lines name every vehicle charging here and when its session ends, at most
    `VEHICLES_A_LINE` a line (300 vehicles: two lines), then the stream goes on as ever."""
    config = SubstationConfig(name="north", capacity_kw=5000.0)
    client = await aiohttp_client(create_app(config))
    for number in range(300):
        assert (await client.post("/charge", json=charge_body(f"EV-{number}", 11))).status == 201
    stream = await client.get("/load/stream")
    lines = [await next_report(stream) for _ in range(3)]
    assert [len(report.vehicles or ()) for report in lines] == [VEHICLES_A_LINE, 44, 0]
    charging = [vehicle for report in lines for vehicle in report.vehicles or ()]
    assert sorted(vehicle_id for vehicle_id, _ in charging) == sorted(
        f"EV-{number}" for number in range(300)
    )
    ledger = client.app[LEDGER]
    ends = {session.vehicle_id: session.ends_at for session in ledger.sessions()}
    assert all(
        ends_at == pytest.approx(ends[vehicle_id], abs=0.001) for vehicle_id, ends_at in charging
    )
    # The ledger as it is now; then the feed's newest line, which may be older (its seq says).
    assert [report.load_kw for report in lines[:2]] == [3300.0] * 2
    assert lines[0].seq is not None and lines[2].seq is not None
    assert lines[2].seq <= lines[0].seq
    empty = await (await substation(aiohttp_client)).get("/load/stream")
    assert (await next_report(empty)).vehicles is None  # nothing charging: the report alone
