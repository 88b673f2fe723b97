"""The proxy's aiohttp app: handlers translate HTTP into calls on the router and the balancer.

Only SPEC's routes exist; nothing else is forwarded, so no path reaches a substation's admin
API through the proxy. Every `/charge` body is validated here with the substation's own rules
(`grid.protocol`) before any substation sees it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from aiohttp import hdrs, web

from grid.httpio import (
    add_hot_route,
    answer_other_paths,
    check_admin_token,
    json_errors,
)
from grid.protocol import SESSION_ID_PATTERN
from grid.seen import new_proxy_name, proxy_ref
from proxy.balancer import Balancer
from proxy.config import ProxyConfig
from proxy.errors import NotFound, UnknownSession
from proxy.health import SERVING
from proxy.metrics import ProxyMetrics
from proxy.poller import Poller
from proxy.pool import PooledUpstream
from proxy.relay import charge_handler, relay
from proxy.router import ChargeRouter
from proxy.siblings import SiblingLink, Siblings
from proxy.streams import LoadStreams
from proxy.tuning import DEFAULT_TUNING
from proxy.upstream import Upstream

Clock = Callable[[], float]

CONFIG = web.AppKey("config", ProxyConfig)
ROUTER = web.AppKey("router", ChargeRouter)
POLLER = web.AppKey("poller", Poller)
STREAMS = web.AppKey("streams", LoadStreams)


def create_app(
    config: ProxyConfig,
    upstream: Upstream | None = None,
    clock: Clock = time.time,
    siblings: SiblingLink | None = None,
) -> web.Application:
    """The proxy app; `upstream` is the seam to the substations (tests may pass their own);
    `siblings` links a worker of `--workers` to the others (`proxy.siblings`)."""
    upstream = upstream or PooledUpstream(config.connect_timeout_s, config.upstream_timeout_s)
    # Every charge is named (`X-Proxy-Ref`), a proxy of one worker's too (`grid.seen`).
    ref = proxy_ref(new_proxy_name(), 0) if siblings is None else siblings.ref
    tuning = replace(DEFAULT_TUNING, rollout_draws=config.rollout_draws)
    balancer = Balancer(policy=config.policy, shard=config.shard, ref=ref, tuning=tuning)
    balancer.set_substations(config.substations)
    metrics = ProxyMetrics()
    app = web.Application()
    app[CONFIG] = config
    app[ROUTER] = ChargeRouter(balancer, upstream, metrics, clock, config.retries)
    if siblings is not None:
        longest_request_s = config.connect_timeout_s + config.upstream_timeout_s
        app[ROUTER].siblings = Siblings(siblings, balancer, silent_after_s=longest_request_s)
    app[POLLER] = Poller(
        balancer,
        upstream,
        clock,
        config.poll_interval_s,
        config.discover,
        after_round=app[ROUTER].hold.power_freed,
        down_interval_s=config.down_poll_interval_s,
    )
    app[STREAMS] = LoadStreams(balancer, app[ROUTER].directory, clock, config.connect_timeout_s)
    app.cleanup_ctx.append(_background_loops)
    # `POST /charge` answers its own errors; the other routes, rare, through `json_errors`.
    add_hot_route(app, hdrs.METH_POST, "/charge", charge_handler(app[ROUTER]))
    app.router.add_get("/charge/{session_id}", json_errors(session_call))
    app.router.add_delete("/charge/{session_id}", json_errors(session_call))
    app.router.add_get("/substations", json_errors(get_substations))
    app.router.add_get("/metrics", json_errors(get_metrics))
    app.router.add_get("/healthz", json_errors(get_healthz))
    app.router.add_get("/", json_errors(get_grid_page))
    admin = "/admin/substations/{name}/{action:drain|resume}"
    app.router.add_post(admin, json_errors(post_substation_admin))
    answer_other_paths(app.router)
    return app


async def _background_loops(app: web.Application) -> AsyncIterator[None]:
    """The poller, the load streams and the wait queue's server; the first poll runs before the
    proxy serves, so it starts knowing every capacity."""
    await app[POLLER].poll_round()
    async with contextlib.AsyncExitStack() as loops:
        await loops.enter_async_context(app[POLLER].running())
        await loops.enter_async_context(app[ROUTER].hold.serving())
        if app[CONFIG].load_stream:
            await loops.enter_async_context(app[STREAMS].running())
        yield
    await app[ROUTER].upstream.close()


async def session_call(request: web.Request) -> web.StreamResponse:
    session_id = request.match_info["session_id"]
    # Session ids are what our substations issue; anything else is not passed on at all.
    if not SESSION_ID_PATTERN.fullmatch(session_id):
        raise UnknownSession(f"no active session {session_id[:64]}")
    answer = await request.app[ROUTER].session_request(request.method, session_id)
    return relay(answer)


async def get_substations(request: web.Request) -> web.StreamResponse:
    router = request.app[ROUTER]
    now = router.clock()
    listing = [
        {
            "name": view.name,
            "url": view.key,
            "healthy": view.health in SERVING,
            "health": view.health,
            "draining": view.draining,
            "load_stream": view.streaming,
            "capacity_kw": view.capacity_kw,
            "load_kw": view.load_kw,
            "in_flight": view.in_flight,
            "pending_kw": view.pending_kw,
            "sibling_pending_kw": view.sibling_kw,
            "booked_kw": round(sum((kw for _, kw in view.bookings), 0.0), 3),
            "last_report_age_s": (
                None if view.reported_at == float("-inf") else round(now - view.reported_at, 3)
            ),
        }
        for view in router.balancer.views()
    ]
    # SPEC makes the body a list of substations; the charges held for room ride in a header.
    return web.json_response(listing, headers={"X-Charges-Waiting": str(len(router.hold))})


async def get_metrics(request: web.Request) -> web.StreamResponse:
    router = request.app[ROUTER]
    body, headers = router.metrics.render(
        router.balancer, len(router.hold), request.headers.getall("Accept", [])
    )
    return web.Response(body=body, headers=headers)


async def post_substation_admin(request: web.Request) -> web.StreamResponse:
    """Drain or resume a substation: told to the substation itself, then taken at once here."""
    token = request.app[CONFIG].admin_token
    check_admin_token(token, request.headers.get("Authorization"))
    router, action = request.app[ROUTER], request.match_info["action"]
    view = router.balancer.find(request.match_info["name"])
    if view is None:
        raise NotFound(f"no substation named {request.match_info['name'][:64]}")
    # The proxy speaks to the substation's admin API with the same token (one per grid).
    answer = await router.upstream.send(
        "POST", f"{view.key}/admin/{action}", None, {"Authorization": f"Bearer {token}"}
    )
    if answer.status == 200:
        router.balancer.set_draining(view.key, action == "drain")
    return relay(answer)


# The live grid page: one self-contained file (no build step, no CDN), read once at import.
GRID_PAGE = (Path(__file__).parent / "static" / "grid.html").read_bytes()


async def get_grid_page(request: web.Request) -> web.StreamResponse:
    return web.Response(body=GRID_PAGE, content_type="text/html", charset="utf-8")


async def get_healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})
