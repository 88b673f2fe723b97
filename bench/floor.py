"""`python -m bench.floor`: the least an aiohttp proxy can do, as a yardstick for ours.

aiohttp's low-level `web.Server` (no router, no middleware) forwarding each request's body to
the next upstream in turn over the same lean keep-alive pool as our proxy (`proxy.pool`), and
relaying the answer. No validation, no balancing, no metrics, no learning from answers: what
is left is the HTTP engine and the two socket exchanges. `bench.proxy` runs it beside ours so
that docs/performance.md can say how much of our cost is ours and how much is aiohttp's on
this machine. With `--app`, the same relay as the `POST /charge` route of a `web.Application`
with JSON 404/405 routes beside it, as our proxy serves it: what the application layer (routing,
its request objects) adds (`bench.layers`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys

import uvloop
from aiohttp import web

from grid.httpio import answer_other_paths
from proxy.pool import PooledUpstream

JSON = {"Content-Type": "application/json"}


async def serve(port: int, upstreams: list[str], as_app: bool = False) -> None:
    pool = PooledUpstream(connect_timeout_s=1.0, total_timeout_s=5.0)
    turns = itertools.cycle(upstreams)

    async def forward(request: web.BaseRequest) -> web.Response:
        answer = await pool.send("POST", f"{next(turns)}/charge", await request.read(), JSON)
        return web.Response(status=answer.status, body=answer.body, headers=JSON)

    runner: web.BaseRunner
    if as_app:
        app = web.Application()
        app.router.add_post("/charge", forward)
        answer_other_paths(app.router)
        runner = web.AppRunner(app, access_log=None)
    else:
        runner = web.ServerRunner(web.Server(forward), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()  # until the benchmark stops this process
    finally:
        await pool.close()
        await runner.cleanup()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--substations", required=True, help="comma-separated base URLs")
    parser.add_argument("--app", action="store_true", help="as a web.Application's one route")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.port, args.substations.split(","), args.app))


if __name__ == "__main__":
    main(sys.argv[1:])
