"""The substation's aiohttp app: handlers translate HTTP into calls on the session ledger.

Nothing here decides who gets power; `SessionLedger` does. The handlers run on one event
loop and never await between reading the ledger and booking on it, which is what makes the
capacity invariant hold under any concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping

from aiohttp import hdrs, web

from grid.background import running
from grid.booked import RecentBookings, booked_window_s, charging_chunks
from grid.errors import ApiError
from grid.httpio import (
    HotHandler,
    add_hot_route,
    answer_other_paths,
    check_admin_token,
    error_response,
    json_answer,
    json_errors,
    read_charge_body,
)
from grid.ledger import Admission, SessionLedger
from grid.protocol import LOAD_STREAM_PATH, ChargeRequest, parse_charge_request
from grid.seen import HEADER_PROXY_REF, ChargesSeen
from substation.config import SubstationConfig
from substation.feed import FeedListener, LoadFeed
from substation.metrics import SubstationMetrics
from substation.store import SessionStore

Clock = Callable[[], float]

CONFIG = web.AppKey("config", SubstationConfig)
LEDGER = web.AppKey("ledger", SessionLedger)
METRICS = web.AppKey("metrics", SubstationMetrics)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
FEED = web.AppKey("feed", LoadFeed)
SEEN = web.AppKey("seen", ChargesSeen)
# The sessions booked lately, on every line of the load stream (`grid.booked`).
BOOKED = web.AppKey("booked", RecentBookings)
# Set when the first session is booked into an empty ledger, so the expiry timer, idle until
# then, wakes and sleeps until that session's end instead. Later sessions end after it.
FIRST_SESSION_BOOKED = web.AppKey("first_session_booked", asyncio.Event)
# The longest the expiry timer sleeps: a jump of the wall clock is seen within this.
EXPIRY_TICK_S = 1.0


def create_app(config: SubstationConfig, clock: Clock = time.time) -> web.Application:
    app = web.Application()
    store = SessionStore(config.state_path) if config.state_path else None
    seen, booked = ChargesSeen(), RecentBookings(booked_window_s(config.report_interval_s))
    feed = LoadFeed(
        lambda: ledger.report(seen.every(), booked.since(clock())),
        config.report_interval_s,
    )
    ledger = SessionLedger(
        config.name,
        config.capacity_kw,
        config.session_seconds,
        listener=FeedListener(feed, store),
    )
    if store is not None:
        ledger.restore(store.load(clock()), clock())
        app.on_cleanup.append(lambda _: _close(store))
    app[CONFIG] = config
    app[LEDGER] = ledger
    app[SEEN] = seen
    app[BOOKED] = booked
    app[METRICS] = SubstationMetrics(ledger)
    app[CLOCK] = clock
    app[FEED] = feed
    app[FIRST_SESSION_BOOKED] = asyncio.Event()
    app.cleanup_ctx.append(expiry_timer)
    app.cleanup_ctx.append(load_feed)
    app.on_shutdown.append(_end_streams)
    # `POST /charge` answers its own errors; the other routes through `json_errors`.
    add_hot_route(app, hdrs.METH_POST, "/charge", charge_handler(app))
    app.router.add_get("/charge/{session_id}", json_errors(get_charge))
    app.router.add_delete("/charge/{session_id}", json_errors(delete_charge))
    app.router.add_get(LOAD_STREAM_PATH, json_errors(get_load_stream))
    app.router.add_get("/metrics", json_errors(get_metrics))
    app.router.add_get("/healthz", json_errors(get_healthz))
    app.router.add_get("/readyz", json_errors(get_readyz))
    app.router.add_post("/admin/drain", json_errors(post_drain))
    app.router.add_post("/admin/resume", json_errors(post_resume))
    answer_other_paths(app.router)
    return app


async def _close(store: SessionStore) -> None:
    store.close()


def load_report(ledger: SessionLedger, seen: Mapping[str, int] | None = None) -> dict[str, str]:
    """The headers every /charge answer carries: the load after the request took effect."""
    return ledger.report(seen).headers()


def charge_handler(app: web.Application) -> HotHandler:
    """`POST /charge`, the hot route (`grid.httpio.add_hot_route`): it holds its app, as it is
    answered before routing gives a request one."""
    ledger, seen, clock = app[LEDGER], app[SEEN], app[CLOCK]

    async def post_charge(request: web.BaseRequest) -> web.StreamResponse:
        # A proxy worker's charge is counted whatever comes of it (`grid.seen`).
        proxy_ref = request.headers.get(HEADER_PROXY_REF)
        try:
            charge = parse_charge_request(await read_charge_body(request))
        except ApiError as error:  # no amount to count: a proxy sends only valid charges
            return error_response(error, load_report(ledger, seen.of_proxy(proxy_ref)))
        seen.count(proxy_ref, charge.amount_kw)
        try:
            admission = admit(app, charge, proxy_ref, clock())
        except ApiError as error:
            return error_response(error, load_report(ledger, seen.of_proxy(proxy_ref)))
        status = 201 if admission.created else 200
        headers = load_report(ledger, seen.of_proxy(proxy_ref))
        return json_answer(admission.session.to_json(), status, headers)

    return post_charge


def admit(
    app: web.Application, charge: ChargeRequest, proxy_ref: str | None, now: float
) -> Admission:
    """The ledger's answer to `charge`; a session booked is told to the load stream's
    subscribers (`grid.booked`) and, if the ledger was empty, to the expiry timer."""
    ledger = app[LEDGER]
    admission = ledger.admit(charge, now)
    if admission.created:
        session = admission.session
        app[BOOKED].add(
            ledger.version,
            proxy_ref,
            session.granted_kw,
            session.ends_at,
            session.vehicle_id,
            now,
        )
        if ledger.active_sessions == 1:
            app[FIRST_SESSION_BOOKED].set()
    return admission


async def get_charge(request: web.Request) -> web.StreamResponse:
    ledger, now = request.app[LEDGER], request.app[CLOCK]()
    try:
        session = ledger.get(request.match_info["session_id"], now)
    except ApiError as error:
        return error_response(error, load_report(ledger))
    body = {**session.to_json(), "remaining_s": round(session.remaining_s(now), 3)}
    return json_answer(body, headers=load_report(ledger))


async def delete_charge(request: web.Request) -> web.StreamResponse:
    ledger = request.app[LEDGER]
    try:
        session = ledger.stop(request.match_info["session_id"], request.app[CLOCK]())
    except ApiError as error:
        return error_response(error, load_report(ledger))
    return json_answer(session.to_json(), headers=load_report(ledger))


async def get_metrics(request: web.Request) -> web.StreamResponse:
    ledger = request.app[LEDGER]
    ledger.expire(request.app[CLOCK]())
    body, headers = request.app[METRICS].render(request.headers.getall("Accept", []))
    # The load report every answer carries, of the same moment as the text: a proxy's poll is
    # taken by its sequence, as an answer is, and with the sums of what that proxy asked.
    seen = request.app[SEEN].of_proxy(request.headers.get(HEADER_PROXY_REF))
    return web.Response(body=body, headers={**headers, **load_report(ledger, seen)})


async def get_healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def get_readyz(request: web.Request) -> web.StreamResponse:
    if request.app[LEDGER].draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready"})


async def post_drain(request: web.Request) -> web.StreamResponse:
    return _set_draining(request, draining=True)


async def post_resume(request: web.Request) -> web.StreamResponse:
    return _set_draining(request, draining=False)


def _set_draining(request: web.Request, *, draining: bool) -> web.StreamResponse:
    check_admin_token(request.app[CONFIG].admin_token, request.headers.get("Authorization"))
    ledger = request.app[LEDGER]
    ledger.draining = draining
    request.app[FEED].changed()
    return web.json_response(
        {"substation": ledger.substation, "draining": draining, "load_kw": ledger.load_kw}
    )


async def get_load_stream(request: web.Request) -> web.StreamResponse:
    """Newline-delimited JSON load reports (`substation.feed`), until the client leaves or the
    service stops."""
    feed = request.app[FEED]
    response = web.StreamResponse(
        headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    feed.subscribers += 1
    try:
        for line in charging_lines(request.app):
            await response.write(line)
        seen = 0
        while (latest := await feed.next_line(seen)) is not None:
            seen, line = latest
            await response.write(line)
    except ConnectionResetError:
        pass  # the subscriber left
    finally:
        feed.subscribers -= 1
    return response


def charging_lines(app: web.Application) -> list[bytes]:
    """A new subscriber's first lines: the report, with every vehicle charging here and when
    its session ends (`grid.booked.VEHICLES_A_LINE` a line), so that a proxy that starts,
    restarts or joins knows where each vehicle charges. None when nothing charges."""
    ledger, seen = app[LEDGER], app[SEEN].every()
    return [
        ledger.report(seen, vehicles=chunk).stream_line()
        for chunk in charging_chunks(ledger.charging(app[CLOCK]()))
    ]


async def load_feed(app: web.Application) -> AsyncIterator[None]:
    async with running(app[FEED].publish_forever):
        yield


async def _end_streams(app: web.Application) -> None:
    app[FEED].close()


async def expiry_timer(app: web.Application) -> AsyncIterator[None]:
    """End sessions on time by themselves, not only when a request looks at the ledger."""
    async with running(lambda: _expire_forever(app)):
        yield


async def _expire_forever(app: web.Application) -> None:
    ledger, clock, first_booked = app[LEDGER], app[CLOCK], app[FIRST_SESSION_BOOKED]
    while True:
        ledger.expire(clock())
        next_end = ledger.next_expiry_at()
        sleep_s = EXPIRY_TICK_S if next_end is None else next_end - clock()
        first_booked.clear()
        with contextlib.suppress(TimeoutError):  # not wait_for: see grid.background.stop
            async with asyncio.timeout(max(0.0, min(sleep_s, EXPIRY_TICK_S))):
                await first_booked.wait()
