"""The proxy in front of real substation apps (`aiohttp_server`), through HTTP."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import proxy.router
from grid.ledger import Session
from grid.protocol import STREAM_HEARTBEAT_S
from grid.session_ids import substation_tag
from proxy.app import ROUTER, create_app
from proxy.config import ProxyConfig
from proxy.siblings import SiblingBoard, SiblingLink
from stack.burst import seed_payloads
from substation.app import create_app as create_substation_app
from substation.config import SubstationConfig
from tests.helpers import (
    BAD_CHARGES,
    CHARGE_HEADERS,
    CHARGE_HITS,
    FakeClock,
    Grid,
    charge_body,
    until,
)

GridFactory = Callable[..., Awaitable[Grid]]
T0 = 1_800_000_000.0


async def test_seed_burst_spreads_within_one_request(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 500, 500])
    payloads = seed_payloads(100, seed=3)  # EV-<4 digits>: some ids repeat, as in the seed
    answers = await asyncio.gather(*(grid.proxy.post("/charge", json=p) for p in payloads))
    assert {answer.status for answer in answers} <= {200, 201}
    assert all(answer.headers.get("X-Substation") for answer in answers)
    sessions = {s["session_id"]: s for s in [await answer.json() for answer in answers]}
    assert len(sessions) == len({p["vehicle_id"] for p in payloads})
    granted_kw = sum(session["granted_kw"] for session in sessions.values())
    loads = grid.loads_kw()
    assert sum(loads) == pytest.approx(granted_kw)
    assert max(loads) - min(loads) <= 20


class CountingRandom(random.Random):
    """A random source that counts its draws: the balancer's, whose only reader at three
    substations is the rollout (compiled, a module's functions cannot be patched, so this
    is how the services' tests see it run in the build too)."""

    drawn = 0

    def random(self) -> float:
        self.drawn += 1
        return super().random()


async def test_with_sampled_futures_on_charges_one_after_another_stay_within_one_request(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 300, 200], rollout_draws=24)
    balancer = grid.proxy.app[ROUTER].balancer
    assert balancer.tuning.rollout_draws == 24
    balancer.rng = counting = CountingRandom(1)
    for payload in seed_payloads(40, seed=3):  # each choice after the first has futures
        answer = await grid.proxy.post("/charge", json=payload)
        assert answer.status in {200, 201}
    assert counting.drawn >= 30 * 24  # at least one draw of each of 24 streams, 30 times
    loads = grid.loads_kw()
    utilization = [load / capacity for load, capacity in zip(loads, [500, 300, 200], strict=True)]
    assert max(utilization) - min(utilization) <= 22 / 200  # one request of the smallest
    assert loads[2] <= 200


async def test_seed_burst_loads_agree_with_each_substations_metrics(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500, 500])
    payloads = seed_payloads(100, seed=5)
    answers = await asyncio.gather(*(grid.proxy.post("/charge", json=p) for p in payloads))
    sessions = {s["session_id"]: s["granted_kw"] for s in [await a.json() for a in answers]}
    metric_total = 0.0
    for server in grid.substation_servers:
        async with grid.proxy.session.get(server.make_url("/metrics")) as answer:
            rows = (await answer.text()).splitlines()
            line = next(row for row in rows if row.startswith("current_load{"))
        metric_total += float(line.rsplit(" ", 1)[1])
    assert metric_total == pytest.approx(sum(sessions.values()))


async def test_a_flood_never_overloads_a_small_substation(start_grid: GridFactory) -> None:
    grid = await start_grid([100])
    answers = await asyncio.gather(
        *(grid.proxy.post("/charge", json=charge_body(f"EV-{n}", 10)) for n in range(300))
    )
    granted = [a for a in answers if a.status == 201]
    refused = [a for a in answers if a.status == 503]
    assert len(granted) == 10
    assert len(refused) == 290
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    assert {(await a.json())["error"] for a in refused} == {"no_capacity"}
    assert grid.loads_kw() == [100]


async def test_same_vehicle_again_gets_its_session_back(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 500, 500])
    first = await grid.proxy.post("/charge", json=charge_body("EV-7", 11))
    again = await grid.proxy.post("/charge", json=charge_body("EV-7", 11))
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["session_id"] == (await again.json())["session_id"]
    assert sorted(grid.loads_kw()) == [0, 0, 11]


async def test_concurrent_requests_of_one_vehicle_book_once(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 500, 500])
    answers = await asyncio.gather(
        *(grid.proxy.post("/charge", json=charge_body("EV-7", 11)) for _ in range(20))
    )
    assert sorted(a.status for a in answers) == [200] * 19 + [201]
    assert len({(await a.json())["session_id"] for a in answers}) == 1
    assert sum(grid.loads_kw()) == 11


async def test_session_is_read_and_stopped_through_the_proxy(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 500])
    session = await (await grid.proxy.post("/charge", json=charge_body("EV-1", 40))).json()
    read = await grid.proxy.get(f"/charge/{session['session_id']}")
    assert read.status == 200
    assert 0 < (await read.json())["remaining_s"] <= 60
    stopped = await grid.proxy.delete(f"/charge/{session['session_id']}")
    assert stopped.status == 200
    assert grid.loads_kw() == [0, 0]
    gone = await grid.proxy.get(f"/charge/{session['session_id']}")
    assert gone.status == 404
    assert (await gone.json())["error"] == "unknown_session"


async def test_a_session_that_ended_is_asked_of_its_substation_alone(
    start_grid: GridFactory,
) -> None:
    """A driver's app asking after its session once it ended, or was stopped, and asking
    again: the proxy still knows the owner, so one substation answers each time, not every
    substation of the grid (each of them, once: three here, a thousand in a city)."""
    clock = FakeClock(T0)
    grid = await start_grid([500, 500, 500], clock=clock)
    ended = await (await grid.proxy.post("/charge", json=charge_body("EV-1", 40))).json()
    stopped = await (await grid.proxy.post("/charge", json=charge_body("EV-2", 40))).json()
    assert (await grid.proxy.delete(f"/charge/{stopped['session_id']}")).status == 200
    clock.advance(61)
    for app in grid.substation_apps:
        app[CHARGE_HITS].clear()
    for session in (ended, stopped, ended):
        gone = await grid.proxy.get(f"/charge/{session['session_id']}")
        assert gone.status == 404
        assert (await gone.json())["error"] == "unknown_session"
    assert grid.charge_hits() == 3
    again = await grid.proxy.post("/charge", json=charge_body("EV-1", 40))
    assert again.status == 201  # a new session: the vehicle's old one is not asked again


async def test_session_routes_even_when_the_proxy_never_saw_it(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 500])
    direct = grid.substation_servers[1].make_url("/charge")
    async with grid.proxy.session.post(direct, json=charge_body("EV-1", 40)) as answer:
        session = await answer.json()
    stopped = await grid.proxy.delete(f"/charge/{session['session_id']}")
    assert stopped.status == 200
    assert grid.loads_kw() == [0, 0]


async def test_a_session_booked_elsewhere_is_asked_of_its_owner_alone(
    start_grid: GridFactory,
) -> None:
    """A session this proxy never saw booked (another replica's, or from before it started):
    its id names its substation (`grid.session_ids`), so the owner alone is asked, where every
    substation was before (a thousand in a city)."""
    grid = await start_grid([500, 500, 500])
    direct = grid.substation_servers[2].make_url("/charge")
    async with grid.proxy.session.post(direct, json=charge_body("EV-1", 40)) as answer:
        session = await answer.json()
    for app in grid.substation_apps:
        app[CHARGE_HITS].clear()
    assert (await grid.proxy.get(f"/charge/{session['session_id']}")).status == 200
    assert (await grid.proxy.delete(f"/charge/{session['session_id']}")).status == 200
    assert [sum(app[CHARGE_HITS].values()) for app in grid.substation_apps] == [0, 0, 2]
    assert grid.loads_kw() == [0, 0, 0]


async def test_a_session_id_naming_no_substation_is_asked_of_none(
    start_grid: GridFactory,
) -> None:
    grid = await start_grid([500, 500, 500])
    made_up = substation_tag("nowhere") + "-" + "0" * 32
    answer = await grid.proxy.get(f"/charge/{made_up}")
    assert answer.status == 404
    assert (await answer.json())["error"] == "unknown_session"
    assert grid.charge_hits() == 0


async def test_a_session_from_before_tags_is_asked_a_few_substations_at_a_time(
    start_grid: GridFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id of the form before tags (a session kept in a substation's state file across the
    upgrade) may be anywhere: asked in turn (`ASKED_AT_ONCE`, here one at a time) until one
    has it, and the others after it are not asked. A session none has is asked of every one."""
    monkeypatch.setattr(proxy.router, "ASKED_AT_ONCE", 1)
    grid = await start_grid([500, 500, 500])
    now = time.time()
    kept = Session("0" * 31 + "1", "EV-1", "substation2", 40.0, 40.0, now - 10, now + 50)
    grid.ledgers()[1].restore([kept], now)
    assert (await grid.proxy.get(f"/charge/{kept.session_id}")).status == 200
    assert [sum(app[CHARGE_HITS].values()) for app in grid.substation_apps] == [1, 1, 0]
    assert (await grid.proxy.get("/charge/" + "0" * 32)).status == 404
    assert [sum(app[CHARGE_HITS].values()) for app in grid.substation_apps] == [2, 2, 1]


async def test_a_session_at_an_unreachable_substation_is_not_called_unknown(
    start_grid: GridFactory,
) -> None:
    """Its substation down, the session is not known to be gone: 503, not 404, and the proxy
    keeps its route, to ask there again."""
    grid = await start_grid([500])
    session = await (await grid.proxy.post("/charge", json=charge_body("EV-1", 40))).json()
    router = grid.proxy.app[ROUTER]
    await grid.substation_servers[0].close()
    for method in ("GET", "DELETE"):
        answer = await grid.proxy.request(method, f"/charge/{session['session_id']}")
        assert answer.status == 503
        assert (await answer.json())["error"] == "upstream_unreachable"
    assert router.directory.for_session(session["session_id"], router.clock()) is not None
    assert grid.ledgers()[0].active_sessions == 1


@pytest.mark.parametrize("session_id", ["..%2Fadmin%2Fdrain", "a" * 65, "x y"])
async def test_odd_session_ids_never_reach_a_substation(
    start_grid: GridFactory, session_id: str
) -> None:
    grid = await start_grid([500])
    answer = await grid.proxy.get(f"/charge/{session_id}")
    assert answer.status == 404
    assert grid.charge_hits() == 0


async def test_unreachable_substation_is_skipped_and_marked_down(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 500, 500])
    await grid.substation_servers[0].close()
    answers = [await grid.proxy.post("/charge", json=charge_body(f"EV-{n}", 10)) for n in range(9)]
    assert {answer.status for answer in answers} == {201}
    listing = await (await grid.proxy.get("/substations")).json()
    assert [entry["healthy"] for entry in listing] == [False, True, True]


async def test_no_reachable_substation_is_a_503(start_grid: GridFactory) -> None:
    grid = await start_grid([500])
    await grid.substation_servers[0].close()
    first = await grid.proxy.post("/charge", json=charge_body("EV-1", 10))
    then = await grid.proxy.post("/charge", json=charge_body("EV-2", 10))
    assert (first.status, then.status) == (503, 503)
    assert (await then.json())["error"] == "no_healthy_substation"
    assert int(then.headers["Retry-After"]) >= 1


async def test_refusal_is_retried_on_the_next_substation(start_grid: GridFactory) -> None:
    # The proxy believes both are empty (no poll since, no stream); the substations know better.
    grid = await start_grid([100, 100], load_stream=False)
    for n, server in enumerate(grid.substation_servers):
        async with grid.proxy.session.post(
            server.make_url("/charge"), json=charge_body(f"EV-full{n}", 95 if n == 0 else 50)
        ):
            pass
    answer = await grid.proxy.post("/charge", json=charge_body("EV-1", 40))
    assert answer.status == 201
    assert answer.headers["X-Substation"] == "substation2"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [pytest.param(*case[:4], id=case[4]) for case in BAD_CHARGES],
)
async def test_bad_charge_never_reaches_a_substation(
    start_grid: GridFactory, content_type: str | None, body: bytes, status: int, code: str
) -> None:
    grid = await start_grid([500, 500])
    headers = {"Content-Type": content_type} if content_type else {}
    answer = await grid.proxy.post(
        "/charge", data=body, headers=headers, skip_auto_headers=["Content-Type"]
    )
    assert answer.status == status
    assert (await answer.json())["error"] == code
    assert grid.charge_hits() == 0
    assert grid.loads_kw() == [0, 0]


@pytest.mark.parametrize(("method", "allowed"), [("GET", "POST"), ("PUT", "POST")])
async def test_other_methods_on_charge_get_405(
    start_grid: GridFactory, method: str, allowed: str
) -> None:
    grid = await start_grid([500])
    answer = await grid.proxy.request(method, "/charge")
    assert answer.status == 405
    assert answer.headers["Allow"] == allowed
    assert grid.charge_hits() == 0


async def test_substations_listing_has_the_spec_fields(start_grid: GridFactory) -> None:
    grid = await start_grid([500, 250])
    await grid.proxy.post("/charge", json=charge_body("EV-1", 10))
    listing = await (await grid.proxy.get("/substations")).json()
    assert [entry["name"] for entry in listing] == ["substation1", "substation2"]
    assert [entry["capacity_kw"] for entry in listing] == [500, 250]
    for field in ("url", "healthy", "draining", "load_kw", "in_flight", "pending_kw"):
        assert field in listing[0]
    assert listing[0]["load_kw"] == 10
    assert 0 <= listing[0]["last_report_age_s"] < 5
    # Power is a float in every field (SPEC), 0.0 where none: a typed client reads one type.
    for entry in listing:
        for field in (name for name in entry if name.endswith("_kw")):
            assert isinstance(entry[field], float), (field, entry[field])


async def test_proxy_metrics_have_every_spec_name(start_grid: GridFactory) -> None:
    grid = await start_grid([500])
    await grid.proxy.post("/charge", json=charge_body("EV-1", 10))
    await grid.proxy.post("/charge", json={"vehicle_id": "bad id", "amount": 1})
    text = await (await grid.proxy.get("/metrics")).text()
    assert 'proxy_requests_total{code="201",substation="substation1"} 1' in text
    assert 'proxy_rejected_total{reason="invalid_request"} 1' in text
    for name in (
        "proxy_request_duration_seconds_bucket",
        'proxy_in_flight{substation="substation1"} 0',
        'proxy_substation_load_kw{substation="substation1"} 10',
        'proxy_substation_capacity_kw{substation="substation1"} 500',
        'proxy_substation_up{substation="substation1"} 1',
        "proxy_retries_total 0",
    ):
        assert name in text


async def test_only_the_proxys_own_headers_reach_a_substation(start_grid: GridFactory) -> None:
    grid = await start_grid([500])
    answer = await grid.proxy.post(
        "/charge",
        json=charge_body("EV-1", 10),
        headers={
            "Connection": "keep-alive, X-Secret",
            "X-Secret": "1",
            "Authorization": "Bearer stolen",
            "X-Forwarded-For": "10.0.0.7",
        },
    )
    assert answer.status == 201
    [seen] = grid.substation_apps[0][CHARGE_HEADERS]
    assert "X-Secret" not in seen
    assert "Authorization" not in seen
    assert seen["X-Forwarded-For"] == "10.0.0.7, 127.0.0.1"
    assert "X-Secret" not in answer.headers
    assert set(answer.headers) >= {"X-Substation", "X-Substation-Load-kW", "Content-Type"}


async def test_a_proxy_of_one_worker_names_its_charges_and_learns_what_was_asked_of_it(
    start_grid: GridFactory,
) -> None:
    """`X-Proxy-Ref` on every charge, and the substation's sum of the watts asked under it
    back in the view, so that a report holding requests still in flight is not counted twice
    (`grid.seen`)."""
    grid = await start_grid([500])
    for vehicle, kw in (("EV-1", 10), ("EV-2", 7.5)):
        assert (await grid.proxy.post("/charge", json=charge_body(vehicle, kw))).status == 201
    balancer = grid.proxy.app[ROUTER].balancer
    ref = balancer.ref
    assert ref is not None
    headers = grid.substation_apps[0][CHARGE_HEADERS]
    assert [asked["X-Proxy-Ref"] for asked in headers] == [ref, ref]
    [view] = balancer.views()
    assert view.seen == {ref: 17_500}
    assert view.sent_w == 17_500
    assert view.unheld_kw == 0.0


async def test_random_traffic_books_exactly_what_the_answers_say(start_grid: GridFactory) -> None:
    grid = await start_grid([300, 200, 100])
    rng = random.Random(11)
    bodies = [
        charge_body(f"EV-{rng.randint(1, 60)}", rng.choice([7.4, 11, 22, 50]), min_amount=3)
        for _ in range(150)
    ]
    answers = await asyncio.gather(*(grid.proxy.post("/charge", json=b) for b in bodies))
    sessions = {}
    for answer in answers:
        assert answer.status in (200, 201, 503)
        if answer.status != 503:
            session = await answer.json()
            sessions[session["session_id"]] = session["granted_kw"]
    assert sum(grid.loads_kw()) == pytest.approx(sum(sessions.values()))
    assert all(
        load <= capacity for load, capacity in zip(grid.loads_kw(), [300, 200, 100], strict=False)
    )


async def test_proxy_metrics_have_series_before_the_first_charge(start_grid: GridFactory) -> None:
    grid = await start_grid([500])
    text = await (await grid.proxy.get("/metrics")).text()
    assert 'proxy_requests_total{code="503",substation="substation1"} 0' in text
    assert 'proxy_rejected_total{reason="no_capacity"} 0' in text
    assert "proxy_waiting_requests 0" in text


async def test_a_charge_refused_everywhere_gets_a_last_look_where_power_freed_meanwhile(
    start_grid: GridFactory,
) -> None:
    """Both substations refuse 50 kW; while the slow one answers, a session the proxy booked at
    the other ends. The proxy sees it in its own bookings and asks there once more."""
    clock = FakeClock(T0)
    grid = await start_grid(
        [100, 100], session_seconds=1.5, clock=clock, takes_s={1: 0.5}, load_stream=False
    )
    first = await grid.proxy.post("/charge", json=charge_body("EV-A", 55))  # ends at T0 + 1.5
    assert first.headers["X-Substation"] == "substation1"
    second = await grid.proxy.post("/charge", json=charge_body("EV-B", 60))
    assert second.headers["X-Substation"] == "substation2"
    clock.now = T0 + 1.2
    # 45 kW free at substation1, 40 at substation2: both refuse 50, the second at T0 + 1.7.
    answer = await grid.proxy.post("/charge", json=charge_body("EV-D", 50))
    assert answer.status == 201
    assert answer.headers["X-Substation"] == "substation1"
    asked = [sum(app[CHARGE_HITS].values()) for app in grid.substation_apps]
    assert asked == [3, 2]  # EV-A, then EV-D twice; EV-B, then EV-D once


async def test_a_refusal_that_says_when_room_comes_is_asked_again_then(
    start_grid: GridFactory, aiohttp_client: Any
) -> None:
    """Two proxies, blind to each other (no stream, no poll between the charges), one 100 kW
    substation with 1 s sessions, on the wall clock. The other proxy fills it; 0.2 s before
    that session ends this proxy asks for 50 kW. The substation refuses and says when room
    comes (`X-Substation-Room-In`); the proxy sleeps until then and asks again, instead of a
    503 for power that frees in 0.2 s."""
    grid = await start_grid([100], session_seconds=1.0, load_stream=False)
    urls = tuple(str(server.make_url("")).rstrip("/") for server in grid.substation_servers)
    other = await aiohttp_client(
        create_app(ProxyConfig(substations=urls, poll_interval_s=60.0, load_stream=False))
    )
    filled = await other.post("/charge", json=charge_body("EV-A", 100))
    assert filled.status == 201
    booked_by = time.time()  # the substation booked it before this: it ends by booked_by + 1
    await asyncio.sleep(booked_by + 0.8 - time.time())
    answer = await grid.proxy.post("/charge", json=charge_body("EV-B", 50))
    assert answer.status == 201, await answer.text()
    assert time.time() >= booked_by + 0.8
    # EV-A; EV-B refused (full, room in at most 0.2 s), then EV-B's timed look.
    assert grid.charge_hits() == 3
    assert grid.loads_kw() == [50.0]


async def test_a_substation_taken_out_is_asked_before_a_driver_is_turned_away(
    start_grid: GridFactory,
) -> None:
    """substation2 refused a connection a moment ago (down), but is back; substation1 is full.
    Rather than a 503, the proxy asks the one that was down: a refused connection would have
    cost nothing. Its answer is the first good check of its return (no stream: its report
    would be one)."""
    grid = await start_grid([100, 100], load_stream=False)
    balancer = grid.proxy.app[ROUTER].balancer
    first, second = (view.key for view in balancer.views())
    filled = await grid.proxy.post("/charge", json=charge_body("EV-A", 100))
    assert filled.headers["X-Substation"] == "substation1"
    balancer.record_health(second, "refused")
    answer = await grid.proxy.post("/charge", json=charge_body("EV-B", 50))
    assert answer.status == 201
    assert answer.headers["X-Substation"] == "substation2"
    assert [balancer.view(key).health for key in (first, second)] == ["healthy", "recovering"]
    asked = [sum(app[CHARGE_HITS].values()) for app in grid.substation_apps]
    assert asked == [2, 1]


async def test_two_workers_sharing_a_board_book_around_each_others_charges(
    aiohttp_server: Any, aiohttp_client: Any
) -> None:
    """Two proxy apps as the two workers of `--workers 2` are: one board, a link each, no
    load stream and no poll between the charges, so only the board can tell the second."""
    servers = [
        await aiohttp_server(
            create_substation_app(SubstationConfig(name=f"substation{n}", capacity_kw=500.0))
        )
        for n in (1, 2)
    ]
    urls = tuple(str(server.make_url("")).rstrip("/") for server in servers)
    board = SiblingBoard(multiprocessing.get_context("spawn"), 2)
    config = ProxyConfig(substations=urls, poll_interval_s=60.0, load_stream=False)
    first, second = [
        await aiohttp_client(create_app(config, siblings=SiblingLink(board, number)))
        for number in (0, 1)
    ]
    booked = await first.post("/charge", json=charge_body("EV-1", 40))
    assert booked.status == 201
    view = second.server.app[ROUTER].balancer.view(urls[0])
    assert view.load_kw == 0.0  # the second worker has no report of that booking
    answer = await second.post("/charge", json=charge_body("EV-2", 10))
    assert answer.status == 201
    assert answer.headers["X-Substation"] != booked.headers["X-Substation"]


async def test_a_vehicle_asking_again_through_another_proxy_gets_its_session_back(
    start_grid: GridFactory, aiohttp_client: Any
) -> None:
    """Two replicas in front of the same substations, each on their load streams. A vehicle
    charges through one, then asks again through the other (an app retrying, a load balancer
    in front): the stream told the other where that vehicle charges, so it asks there and
    answers with the same session. Before, it booked a second session on another substation:
    twice the power for one car."""
    grid = await start_grid([500, 500, 500])
    urls = tuple(str(server.make_url("")).rstrip("/") for server in grid.substation_servers)
    other = await aiohttp_client(create_app(ProxyConfig(substations=urls, poll_interval_s=60.0)))
    first = await grid.proxy.post("/charge", json=charge_body("EV-1", 40))
    assert first.status == 201
    session = await first.json()
    directory = other.server.app[ROUTER].directory
    await until(lambda: directory.for_vehicle("EV-1", time.time()) is not None)
    again = await other.post("/charge", json=charge_body("EV-1", 40))
    assert again.status == 200
    assert (await again.json())["session_id"] == session["session_id"]
    assert sum(ledger.active_sessions for ledger in grid.ledgers()) == 1
    assert sum(grid.loads_kw()) == 40.0


async def test_a_proxy_that_starts_late_knows_where_each_vehicle_charges(
    start_grid: GridFactory, aiohttp_client: Any
) -> None:
    """A replica started (or restarted after kill -9) once vehicles charge: each substation's
    first lines on its stream name the vehicles charging there, so a vehicle asking again
    through the new proxy gets its session, though the booking is long off the stream's
    lines of bookings."""
    grid = await start_grid([500, 500, 500])
    booked = [await grid.proxy.post("/charge", json=charge_body(f"EV-{n}", 40)) for n in range(3)]
    sessions = {(await answer.json())["session_id"] for answer in booked}
    # Past the stream's window of bookings (5 x 50 ms), and its heartbeat (1 s), which sends
    # the report anew: no line a subscriber gets from now on holds those bookings.
    await asyncio.sleep(STREAM_HEARTBEAT_S + 0.3)
    urls = tuple(str(server.make_url("")).rstrip("/") for server in grid.substation_servers)
    late = await aiohttp_client(create_app(ProxyConfig(substations=urls, poll_interval_s=60.0)))
    directory = late.server.app[ROUTER].directory
    await until(lambda: all(directory.for_vehicle(f"EV-{n}", time.time()) for n in range(3)))
    again = [await late.post("/charge", json=charge_body(f"EV-{n}", 40)) for n in range(3)]
    assert [answer.status for answer in again] == [200, 200, 200]
    assert {(await answer.json())["session_id"] for answer in again} == sessions
    assert sum(grid.loads_kw()) == 120.0
