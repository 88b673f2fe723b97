"""JSON errors without a middleware, and the hot route answered before routing
(`grid.httpio`), through a real app and client."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from aiohttp import web

from grid.errors import NoCapacity
from grid.httpio import (
    HOT_ROUTE,
    Handler,
    HotHandler,
    HotRoute,
    add_hot_route,
    answer_other_paths,
    json_errors,
)
from tests.conftest import ClientFactory


async def refuses(request: web.Request) -> web.StreamResponse:
    raise NoCapacity("full", retry_after_s=2, headroom_kw=0.0)


async def forbids(request: web.Request) -> web.StreamResponse:
    raise web.HTTPForbidden(text="not you")


async def answers(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


def small_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/charge", json_errors(refuses))
    app.router.add_get("/forbidden", json_errors(forbids))
    app.router.add_get("/fine/{name}", answers)
    app.router.add_delete("/fine/{name}", answers)
    answer_other_paths(app.router)
    return app


async def test_an_api_error_is_answered_as_its_json_body(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(small_app())
    answer = await client.post("/charge")
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "2"
    assert (await answer.json())["error"] == "no_capacity"


async def test_aiohttps_own_http_errors_are_json_too(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(small_app())
    answer = await client.get("/forbidden")
    assert answer.status == 403
    assert await answer.json() == {"error": "forbidden", "detail": "not you"}


async def test_a_known_paths_other_methods_get_405_with_allow(
    aiohttp_client: ClientFactory,
) -> None:
    client = await aiohttp_client(small_app())
    for method, path, allowed in [
        ("GET", "/charge", "POST"),
        ("PATCH", "/fine/x", "DELETE, GET, HEAD"),
    ]:
        answer = await client.request(method, path)
        assert answer.status == 405
        assert answer.headers["Allow"] == allowed
        assert (await answer.json())["error"] == "method_not_allowed"
    assert (await client.delete("/fine/x")).status == 200  # the routes themselves still answer


async def test_any_other_path_is_a_json_404(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(small_app())
    for path in ["/nowhere", "/charge/", "/fine", "/fine/x/y"]:
        answer = await client.put(path)
        assert answer.status == 404
        assert answer.content_type == "application/json"
        assert (await answer.json())["error"] == "not_found"


def answers_with(how: str) -> HotHandler:
    async def answer(request: web.BaseRequest) -> web.StreamResponse:
        return web.json_response({"by": how, "body": (await request.read()).decode()})

    return answer


def app_with_a_hot_route() -> web.Application:
    """`add_hot_route`'s two ways in, told apart: a different handler for each."""
    app = web.Application()
    add_hot_route(app, "POST", "/charge", answers_with("routing"))
    app[HOT_ROUTE] = HotRoute("POST", "/charge", answers_with("the hot route"))
    answer_other_paths(app.router)
    return app


async def test_the_hot_route_is_answered_before_routing(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(app_with_a_hot_route())
    for path in ["/charge", "/charge?vehicle=EV-1"]:
        answer = await client.post(path, data=b"kW")
        assert answer.status == 200
        assert await answer.json() == {"by": "the hot route", "body": "kW"}
    # Its path's other methods, and other paths, are routed as before.
    assert (await client.get("/charge")).headers["Allow"] == "POST"
    assert (await client.post("/charge/")).status == 404


async def test_a_hot_request_that_expects_100_continue_is_routed(
    aiohttp_client: ClientFactory,
) -> None:
    client = await aiohttp_client(app_with_a_hot_route())
    answer = await client.post("/charge", data=b"kW", expect100=True)
    assert answer.status == 200
    assert await answer.json() == {"by": "routing", "body": "kW"}


async def test_an_app_with_a_middleware_routes_its_hot_route(
    aiohttp_client: ClientFactory,
) -> None:
    """A middleware (tests add some to substations) would be skipped: routing keeps it."""
    app, seen = app_with_a_hot_route(), []

    @web.middleware
    async def counting(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(request.path)
        return await handler(request)

    app.middlewares.append(counting)
    client = await aiohttp_client(app)
    answer = await client.post("/charge", data=b"kW")
    assert await answer.json() == {"by": "routing", "body": "kW"}
    assert seen == ["/charge"]


@pytest.mark.parametrize(
    ("service", "said"),
    [
        (["substation", "--name", "north"], "address already in use"),
        (["proxy", "--substations", "http://127.0.0.1:9"], "address already in use"),
        (["proxy", "--substations", "http://127.0.0.1:9", "--workers", "2"], "already in use"),
        # What the resolver says of a name under .invalid depends on the machine's DNS.
        (["substation", "--name", "north", "--host", "no-such-host.invalid"], ""),
    ],
    ids=["substation, port taken", "proxy, port taken", "two workers, port taken", "no such host"],
)
def test_a_service_that_cannot_take_its_address_stops_saying_why(
    service: list[str], said: str
) -> None:
    """Once a traceback ending in uvloop's `create_server`."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = subprocess.run(
            [sys.executable, "-m", *service, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert started.returncode == 1
    assert f"python -m {service[0]}: cannot listen on " in started.stderr
    assert said in started.stderr
    assert "Traceback" not in started.stderr
