"""`python -m bench.city --port P --count N`: N real substation apps in one process, for
benchmarks that need a city of them (the proxy's memory with 1,000 streamed substations).

Each is `substation.app.create_app` as it runs in production (its ledger, load feed, expiry
timer and metrics), mounted under `/s<K>`, so its base URL is `http://127.0.0.1:P/s<K>` and its
stream `.../s<K>/load/stream`. One process, because a thousand processes do not fit this
machine; the proxy cannot tell the difference.
"""

from __future__ import annotations

import argparse
import sys

from aiohttp import web

from grid.httpio import serve
from substation.app import create_app
from substation.config import SubstationConfig


def create_city_app(count: int, capacity_kw: float, report_interval_s: float) -> web.Application:
    city = web.Application()
    for number in range(count):
        config = SubstationConfig(
            name=f"s{number}", capacity_kw=capacity_kw, report_interval_s=report_interval_s
        )
        city.add_subapp(f"/s{number}", create_app(config))
    return city


def city_urls(port: int, count: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/s{number}" for number in range(count)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.city", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--capacity", type=float, default=500.0, help="kW of each substation")
    parser.add_argument("--report-interval", type=float, default=0.05)
    args = parser.parse_args(argv)
    city = create_city_app(args.count, args.capacity, args.report_interval)
    serve(city, "127.0.0.1", args.port, print, shutdown_timeout_s=2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
