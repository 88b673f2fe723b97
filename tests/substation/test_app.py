"""The substation service through HTTP (`aiohttp_client`): status codes, headers, metrics, admin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from grid.protocol import (
    load_report_from_headers,
    load_report_from_stream_line,
    parse_load_seq,
)
from substation.app import LEDGER, create_app
from substation.config import SubstationConfig
from tests.helpers import BAD_CHARGES, FakeClock, charge_body

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


async def substation(
    aiohttp_client: ClientFactory, clock: FakeClock | None = None, **options: object
) -> Client:
    settings: dict[str, object] = {"name": "north", "capacity_kw": 100.0, **options}
    config = SubstationConfig(**settings)  # type: ignore[arg-type]
    return await aiohttp_client(create_app(config, clock or FakeClock()))


async def test_charge_books_a_session_and_reports_the_load(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    answer = await client.post("/charge", json=charge_body("EV-1", 40))
    assert answer.status == 201
    session = await answer.json()
    assert set(session) == {
        "session_id",
        "vehicle_id",
        "substation",
        "requested_kw",
        "granted_kw",
        "started_at",
        "ends_at",
    }
    assert session["granted_kw"] == 40
    assert session["started_at"] == "2027-01-15T08:00:00.000Z"
    assert session["ends_at"] == "2027-01-15T08:01:00.000Z"
    assert answer.headers["X-Substation"] == "north"
    assert answer.headers["X-Substation-Load-kW"] == "40"
    assert answer.headers["X-Substation-Capacity-kW"] == "100"


async def test_charge_again_returns_the_same_session_with_200(
    aiohttp_client: ClientFactory,
) -> None:
    client = await substation(aiohttp_client)
    first = await (await client.post("/charge", json=charge_body("EV-1", 40))).json()
    again = await client.post("/charge", json=charge_body("EV-1", 40))
    assert again.status == 200
    assert await again.json() == first
    assert client.app[LEDGER].load_kw == 40


async def test_charge_is_curtailed_when_min_amount_allows(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    await client.post("/charge", json=charge_body("EV-1", 90))
    answer = await client.post("/charge", json=charge_body("EV-2", 22, min_amount=7))
    assert answer.status == 201
    assert (await answer.json())["granted_kw"] == 10


async def test_full_substation_answers_503_with_retry_after(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    await client.post("/charge", json=charge_body("EV-1", 100))
    answer = await client.post("/charge", json=charge_body("EV-2", 5))
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "60"
    refusal = await answer.json()
    room_in_s = refusal.pop("room_in_s")  # EV-1's end, to the millisecond
    assert 59.0 < room_in_s <= 60.0
    assert float(answer.headers["X-Substation-Room-In"]) == room_in_s
    assert refusal == {
        "error": "no_capacity",
        "detail": "north has 0 kW free",
        "retry_after_s": 60,
        "headroom_kw": 0.0,
    }
    assert answer.headers["X-Substation-Load-kW"] == "100"


async def test_concurrent_charges_never_exceed_capacity(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    answers = await asyncio.gather(
        *(client.post("/charge", json=charge_body(f"EV-{n}", 10)) for n in range(300))
    )
    statuses = [answer.status for answer in answers]
    assert statuses.count(201) == 10
    assert statuses.count(503) == 290
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status == 503)
    assert client.app[LEDGER].load_kw == 100


async def test_session_can_be_read_and_stopped(aiohttp_client: ClientFactory) -> None:
    clock = FakeClock()
    client = await substation(aiohttp_client, clock)
    session = await (await client.post("/charge", json=charge_body("EV-1", 40))).json()
    clock.now += 15
    read = await client.get(f"/charge/{session['session_id']}")
    assert read.status == 200
    assert (await read.json())["remaining_s"] == 45
    stopped = await client.delete(f"/charge/{session['session_id']}")
    assert stopped.status == 200
    assert stopped.headers["X-Substation-Load-kW"] == "0"
    # Every change to the ledger moves its report's sequence on; reading does not.
    booked_seq = parse_load_seq(read.headers["X-Substation-Load-Seq"])
    stopped_seq = parse_load_seq(stopped.headers["X-Substation-Load-Seq"])
    assert booked_seq is not None and stopped_seq is not None
    assert booked_seq[0] == stopped_seq[0]
    assert stopped_seq[1] == booked_seq[1] + 1
    missing = await client.get(f"/charge/{session['session_id']}")
    assert missing.status == 404
    assert (await missing.json())["error"] == "unknown_session"


async def test_sessions_end_by_themselves_on_a_timer(
    aiohttp_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody asks after the session's end: the timer alone ends it. The clock is injected and
    jumps past the end; the timer, ticking every 10 ms here, sees the jump by itself."""
    monkeypatch.setattr("substation.app.EXPIRY_TICK_S", 0.01)
    clock = FakeClock(1_800_000_000.0)
    config = SubstationConfig(name="north", capacity_kw=100, session_seconds=60)
    client = await aiohttp_client(create_app(config, clock))
    await client.post("/charge", json=charge_body("EV-1", 40))
    ledger = client.app[LEDGER]
    assert ledger.load_kw == 40
    clock.advance(60.0)
    for _ in range(200):  # at most 2 s of the timer's ticks
        if ledger.load_kw == 0:
            break
        await asyncio.sleep(0.01)
    assert ledger.load_kw == 0
    assert ledger.outcomes["expired"] == 1


async def test_metrics_have_every_spec_name(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    await client.post("/charge", json=charge_body("EV-1", 40))
    text = await (await client.get("/metrics")).text()
    assert 'current_load{substation="north"} 40.0' in text
    assert 'substation_capacity_kw{substation="north"} 100' in text
    assert 'substation_active_sessions{substation="north"} 1' in text
    assert 'substation_draining{substation="north"} 0' in text
    for outcome in ("accepted", "curtailed", "rejected", "stopped", "expired"):
        assert f'substation_sessions_total{{outcome="{outcome}",substation="north"}}' in text


async def test_metrics_answer_with_the_load_report_and_the_asking_proxys_sums(
    aiohttp_client: ClientFactory,
) -> None:
    client = await substation(aiohttp_client)
    await client.post("/charge", json=charge_body("EV-1", 40), headers={"X-Proxy-Ref": "a1.0"})
    await client.post("/charge", json=charge_body("EV-2", 10), headers={"X-Proxy-Ref": "b2.0"})
    ledger = client.app[LEDGER]
    answer = await client.get("/metrics", headers={"X-Proxy-Ref": "a1.1"})
    report = load_report_from_headers(answer.headers)
    assert report is not None
    assert (report.load_kw, report.seq) == (50, (ledger.epoch, ledger.version))
    assert report.seen == {"a1.0": 40_000}  # the asking proxy's workers', in watts
    unnamed = load_report_from_headers((await client.get("/metrics")).headers)
    assert unnamed is not None and unnamed.seen is None


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [pytest.param(*case[:4], id=case[4]) for case in BAD_CHARGES],
)
async def test_bad_charge_gets_a_json_error_and_books_nothing(
    aiohttp_client: ClientFactory, content_type: str | None, body: bytes, status: int, code: str
) -> None:
    client = await substation(aiohttp_client)
    headers = {"Content-Type": content_type} if content_type else {}
    answer = await client.post(
        "/charge", data=body, headers=headers, skip_auto_headers=["Content-Type"]
    )
    assert answer.status == status
    assert (await answer.json())["error"] == code
    assert client.app[LEDGER].active_sessions == 0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/charge", "POST"),
        ("PUT", "/charge", "POST"),
        ("PATCH", "/charge/abc", "DELETE, GET, HEAD"),
    ],
)
async def test_other_methods_get_405_with_allow(
    aiohttp_client: ClientFactory, method: str, path: str, allowed: str
) -> None:
    client = await substation(aiohttp_client)
    answer = await client.request(method, path)
    assert answer.status == 405
    assert answer.headers["Allow"] == allowed
    assert (await answer.json())["error"] == "method_not_allowed"


async def test_unknown_path_is_a_json_404(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    answer = await client.get("/nowhere")
    assert answer.status == 404
    assert (await answer.json())["error"] == "not_found"


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Basic c2VjcmV0", 401),
        ("Bearer", 401),
        ("Bearer wrong", 403),
        ("Bearer s3cret", 200),
    ],
)
async def test_admin_drain_needs_the_bearer_token(
    aiohttp_client: ClientFactory, authorization: str | None, status: int
) -> None:
    client = await substation(aiohttp_client, admin_token="s3cret")
    headers = {"Authorization": authorization} if authorization else {}
    answer = await client.post("/admin/drain", headers=headers)
    assert answer.status == status
    assert client.app[LEDGER].draining is (status == 200)


async def test_drained_substation_refuses_new_sessions_and_keeps_running_ones(
    aiohttp_client: ClientFactory,
) -> None:
    client = await substation(aiohttp_client, admin_token="s3cret")
    await client.post("/charge", json=charge_body("EV-1", 40))
    auth = {"Authorization": "Bearer s3cret"}
    await client.post("/admin/drain", headers=auth)
    assert (await client.get("/readyz")).status == 503
    assert (await client.post("/charge", json=charge_body("EV-2", 5))).status == 503
    assert client.app[LEDGER].load_kw == 40
    await client.post("/admin/resume", headers=auth)
    assert (await client.get("/readyz")).status == 200
    assert (await client.post("/charge", json=charge_body("EV-2", 5))).status == 201


async def test_admin_api_is_off_without_a_token(aiohttp_client: ClientFactory) -> None:
    client = await substation(aiohttp_client)
    answer = await client.post("/admin/drain", headers={"Authorization": "Bearer anything"})
    assert answer.status == 404
    assert client.app[LEDGER].draining is False


async def test_charges_a_proxy_worker_names_are_counted_whatever_comes_of_them(
    aiohttp_client: ClientFactory,
) -> None:
    """Booked, repeated or refused, each named charge's kW count (in watts); the answer
    carries the sums of the asking proxy's workers alone, the load stream every sum
    (`grid.seen`)."""
    client = await substation(aiohttp_client)
    first = {"X-Proxy-Ref": "ab12.0"}
    assert (await client.post("/charge", json=charge_body("EV-1", 60), headers=first)).status == 201
    assert (await client.post("/charge", json=charge_body("EV-1", 60), headers=first)).status == 200
    other = {"X-Proxy-Ref": "ffff.0"}
    assert (await client.post("/charge", json=charge_body("EV-9", 10), headers=other)).status == 201
    refused = await client.post(
        "/charge", json=charge_body("EV-2", 60), headers={"X-Proxy-Ref": "ab12.1"}
    )
    assert refused.status == 503
    assert refused.headers["X-Substation-Seen"] == "ab12.0=120000,ab12.1=60000"
    unnamed = await client.post("/charge", json=charge_body("EV-3", 1))
    assert "X-Substation-Seen" not in unnamed.headers
    every_count = {"ab12.0": 120_000, "ffff.0": 10_000, "ab12.1": 60_000}
    async with client.get("/load/stream") as stream, asyncio.timeout(5):
        # The first line may be the one made at an earlier change (at most one per interval).
        while load_report_from_stream_line(await stream.content.readline()).seen != every_count:
            pass
