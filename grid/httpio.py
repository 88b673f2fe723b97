"""The aiohttp side of the charge protocol, shared by both services: body reading, errors,
and how a service process runs (`serve`).

Every error becomes SPEC's JSON body with its status, aiohttp's own (404, 405 with Allow, 413)
included, so no client ever sees a text/plain error. Without a middleware, which every request
would pass through (about 12,000 instructions a charge, docs/performance.md): each handler but
`POST /charge` is wrapped in `json_errors`, those two answer their own errors, and
`answer_other_paths` gives every known path a 405 for its other methods and every other path a
404. What aiohttp answers before any route can (a request line it cannot parse, 400; the
asterisk of `OPTIONS *`, which is no path, 404) stays its plain text.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hmac
import logging
from collections.abc import Awaitable, Callable

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
# A client that sends its headers and then trickles its body is cut off after this long: 16 KiB
# take milliseconds on any real network, so this only ever stops someone holding a slot open.
BODY_TIMEOUT_S = 10.0


async def read_charge_body(request: web.Request) -> bytes:
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


async def _read_bounded(request: web.Request) -> bytes:
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


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        error.to_body(), status=error.status, headers={**error.headers(), **(headers or {})}
    )


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
    aiohttp's start-up lines."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # What exists now (modules, the app) lives as long as the process: leave it out of the
    # collector's full passes, which would otherwise walk it every few hundred requests.
    gc.collect()
    gc.freeze()
    web.run_app(
        app,
        host=host,
        port=port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        reuse_port=reuse_port,
        shutdown_timeout=shutdown_timeout_s,
        print=announce,
    )
