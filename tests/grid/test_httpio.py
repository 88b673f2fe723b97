"""JSON errors without a middleware (`grid.httpio`), through a real app and client."""

from __future__ import annotations

from aiohttp import web

from grid.errors import NoCapacity
from grid.httpio import answer_other_paths, json_errors
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
