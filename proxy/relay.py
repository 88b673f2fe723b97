"""`POST /charge`'s handler and the relay of a substation's answer: the charge path's HTTP
side, in a module of its own so that it is compiled with the core (`setup.py`).

`proxy.app` builds the app and holds the other routes; it cannot be compiled (mypyc has no
async generators, and its `cleanup_ctx` is one). Compiled, this handler saved about 6,000
instructions a charge (docs/performance.md).
"""

from __future__ import annotations

import time

from aiohttp import hdrs, web

from grid.httpio import HotHandler, error_response, read_charge_body
from grid.protocol import HEADER_SUBSTATION, LOAD_REPORT_HEADERS
from proxy.charge import parse_proxy_charge
from proxy.errors import ApiError
from proxy.router import ChargeRouter
from proxy.upstream import UpstreamAnswer

# What of a substation's answer reaches the client: its body, type and load report. A list of
# what to keep, not of what to strip, so hop-by-hop headers never leak either way.
PASSED_HEADERS = (hdrs.CONTENT_TYPE, hdrs.RETRY_AFTER, *LOAD_REPORT_HEADERS)


def charge_handler(router: ChargeRouter) -> HotHandler:
    """`POST /charge`, the hot route (`grid.httpio.add_hot_route`): it holds its router, as it
    is answered before routing gives a request its app."""

    async def post_charge(request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            charge = parse_proxy_charge(await read_charge_body(request))
            answer = await router.charge(charge, forwarded_headers(request))
        except ApiError as error:
            router.metrics.count_rejection(error.code)
            router.metrics.observe_request("none", error.status, time.perf_counter() - started)
            return error_response(error)
        substation = answer.headers.get(HEADER_SUBSTATION, "none")
        router.metrics.observe_request(substation, answer.status, time.perf_counter() - started)
        return relay(answer)

    return post_charge


def relay(answer: UpstreamAnswer) -> web.Response:
    found = answer.headers.get
    headers = {name: value for name in PASSED_HEADERS if (value := found(name)) is not None}
    return web.Response(status=answer.status, body=answer.body, headers=headers)


def forwarded_headers(request: web.BaseRequest) -> dict[str, str]:
    """X-Forwarded-For with the client appended, as proxies in a chain do."""
    client = request.remote or "unknown"
    earlier = request.headers.get(hdrs.X_FORWARDED_FOR)
    return {hdrs.X_FORWARDED_FOR: f"{earlier}, {client}" if earlier else client}
