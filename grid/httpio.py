"""The aiohttp side of the charge protocol, shared by both services: body reading, errors,
and how a service process runs (`serve`).

Every error becomes SPEC's JSON body with its status, aiohttp's own (404, 405 with Allow, 413)
included, so no client ever sees a text/plain error. Without a middleware, which every request
would pass through (about 12,000 instructions a charge, docs/performance.md): each handler but
`POST /charge` is wrapped in `json_errors`, those two answer their own errors, and
`answer_other_paths` gives every known path a 405 for its other methods and every other path a
404. What aiohttp answers before any route can (a request line it cannot parse, 400; the
asterisk of `OPTIONS *`, which is no path, 404) stays its plain text.

`POST /charge` is each service's hot route (`add_hot_route`): `serve` answers it before
aiohttp's routing, which every other request still goes through (`route_hot_first`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass

import orjson
import uvloop
from aiohttp import hdrs, web

from grid.errors import (
    ApiError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
)
from grid.protocol import MAX_BODY_BYTES, check_content_type, check_declared_length

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A hot route's handler: a plain `web.BaseRequest` is all it reads (no `app`, no `match_info`).
HotHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
# A client that sends its headers and then trickles its body is cut off after this long: 16 KiB
# take milliseconds on any real network, so this only ever stops someone holding a slot open.
BODY_TIMEOUT_S = 10.0
# How long an idle client connection is kept: `web.run_app`'s default, which `serve` ran under
# (the runner's own default is an hour).
RUN_APP_KEEPALIVE_S = 75.0


class CannotListen(Exception):
    """`serve` could not take its address; the service stops, saying why (its `__main__`)."""


@dataclass(frozen=True)
class HotRoute:
    """The route nearly every request takes (`add_hot_route`)."""

    method: str
    path: str
    handler: HotHandler


HOT_ROUTE = web.AppKey("hot_route", HotRoute)


async def read_charge_body(request: web.BaseRequest) -> bytes:
    """A `POST /charge` body, its media type and size checked before anything is read."""
    check_content_type(request.headers.get(hdrs.CONTENT_TYPE))
    check_declared_length(request.content_length)
    if request.content.is_eof():  # the whole body came with the headers: take it as it is
        return request.content.read_nowait()
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await _read_bounded(request)
    except TimeoutError as error:
        raise RequestTimeout(f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from error


async def _read_bounded(request: web.BaseRequest) -> bytes:
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            # Chunked bodies declare no length: stop reading as soon as the limit is passed.
            raise PayloadTooLarge(f"body is over the limit of {MAX_BODY_BYTES} bytes")
    return bytes(body)


def check_admin_token(expected: str | None, authorization: str | None) -> None:
    """401 without a bearer token, 403 with a wrong one; no token configured: no admin API."""
    if expected is None:
        raise NotFound("the admin API is off: no admin token is configured")
    scheme, _, offered = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not offered:
        raise Unauthorized("send Authorization: Bearer <admin token>")
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        raise Forbidden("wrong admin token")


def json_answer(
    body: Mapping[str, object], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """`web.json_response`'s answer, encoded by orjson: the standard library's encoder took
    about 21,000 instructions to write a substation's session (docs/performance.md). The same
    JSON value; the text has no spaces after `:` and `,`, and non-ASCII is UTF-8, not escaped."""
    try:
        encoded = orjson.dumps(body)
    except TypeError:  # orjson's refusal of a lone surrogate, which a detail may echo
        encoded = json.dumps(body).encode()
    return web.Response(
        body=encoded,
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return json_answer(error.to_body(), error.status, {**error.headers(), **(headers or {})})


def json_errors(handler: Handler) -> Handler:
    """`handler` with its errors answered as SPEC's JSON body."""

    @functools.wraps(handler)
    async def answering(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ApiError, web.HTTPException) as error:
            return _json_error(error)

    return answering


def answer_other_paths(router: web.UrlDispatcher) -> None:
    """After every route is added: each path's other methods get a JSON 405 with Allow, and
    any other path a JSON 404, where aiohttp's router would answer them in plain text."""
    for resource in list(router.resources()):
        if not isinstance(resource, web.Resource):  # static files: not served here
            continue
        allowed = frozenset(route.method for route in resource if route.method != hdrs.METH_ANY)
        resource.add_route(hdrs.METH_ANY, _not_allowed(allowed))
    router.add_route(hdrs.METH_ANY, "/{path:.*}", _not_found)


def _not_allowed(allowed: frozenset[str]) -> Handler:
    async def not_allowed(request: web.Request) -> web.StreamResponse:
        detail = f"{request.method} is not allowed on {request.path}"
        return error_response(MethodNotAllowed(detail, allowed))

    return not_allowed


async def _not_found(request: web.Request) -> web.StreamResponse:
    return error_response(NotFound(f"no such resource: {request.path}"))


def _json_error(error: ApiError | web.HTTPException) -> web.StreamResponse:
    # The router's own 404 and 405 never get here: `answer_other_paths` answers them as routes.
    if isinstance(error, ApiError):
        return error_response(error)
    if error.status < 400:
        raise error
    body = {"error": error.reason.lower().replace(" ", "_"), "detail": error.text or ""}
    return web.json_response(body, status=error.status)


def add_hot_route(app: web.Application, method: str, path: str, handler: HotHandler) -> None:
    """`handler` as the route for `method path`, and answered before aiohttp's routing when
    served by `serve` (`route_hot_first`): the one route every charge takes.
    `handler` must not need `request.app` or `request.match_info`, which only routing sets."""
    app.router.add_route(method, path, handler)
    app[HOT_ROUTE] = HotRoute(method, path, handler)


def route_hot_first(server: web.Server, app: web.Application) -> None:
    """Give `server` (an `AppRunner`'s, before its sites start) a request handler that answers
    the app's hot route itself and hands everything else to the app's routing.

    The app's routing resolves the path, builds and freezes a `match_info` and sends the
    response-prepare signal: about 22,000 instructions a request (docs/performance.md), paid
    by every charge for nothing, as the hot route has no path parameters, middleware or signal.
    A request that asks `Expect: 100-continue` goes through routing, which answers it; so
    does every request of an app with a middleware or a response-prepare signal (tests add
    them), which the hot route would skip."""
    hot = app.get(HOT_ROUTE)
    if hot is None or app.middlewares or app.on_response_prepare:
        return
    routed, method, path, handler = server.request_handler, hot.method, hot.path, hot.handler

    def answer(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        if request.method == method and request.path == path and hdrs.EXPECT not in request.headers:
            return handler(request)
        return routed(request)

    server.request_handler = answer


def serve(
    app: web.Application,
    host: str,
    port: int,
    announce: Callable[[str], None],
    *,
    reuse_port: bool = False,
    shutdown_timeout_s: float = 60.0,
) -> None:
    """Run a service on uvloop until SIGINT or SIGTERM, with no access log; `announce` gets
    the line saying where it listens. As `web.run_app` runs an app (the same runner, signals
    and shutdown), with the hot route answered first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # What exists now (modules, the app) lives as long as the process: leave it out of the
    # collector's full passes, which would otherwise walk it every few hundred requests.
    gc.collect()
    gc.freeze()

    async def serve_until_stopped() -> None:
        # SIGINT and SIGTERM raise `web.GracefulExit` (`handle_signals`), as under `run_app`.
        runner = web.AppRunner(
            app,
            handle_signals=True,
            access_log=None,
            keepalive_timeout=RUN_APP_KEEPALIVE_S,
            shutdown_timeout=shutdown_timeout_s,
        )
        await runner.setup()
        try:
            assert runner.server is not None  # set by setup()
            route_hot_first(runner.server, app)  # before any connection is taken
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
            try:
                await site.start()
            except OSError as error:  # in use, not an address of this machine, not allowed
                reason = error.strerror or str(error)
                raise CannotListen(f"cannot listen on {host}:{port}: {reason}") from error
            announce(f"======== Running on {site.name} ========")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()  # in-flight requests end, then the app's cleanup_ctx

    _run_until_stopped(serve_until_stopped())


def _run_until_stopped(serving: Coroutine[None, None, None]) -> None:
    """`serving` on a new uvloop until it ends or a signal stops it (`web.GracefulExit`), then
    whatever tasks are left cancelled, as `web.run_app` ends."""
    loop = uvloop.new_event_loop()
    task = loop.create_task(serving)
    try:
        loop.run_until_complete(task)
    except (web.GracefulExit, KeyboardInterrupt):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        left = asyncio.all_tasks(loop)
        for other in left:
            other.cancel()
        if left:
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
