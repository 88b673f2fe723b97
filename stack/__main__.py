"""The local stack: `up` runs it until Ctrl-C, `demo` runs rush hour, `burst` the seed's test.

`make up` and `make demo` call these. `demo` exits non-zero when any request failed for a
reason other than capacity; `burst` also when the substations end further apart than one
request. Both stop every process they started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path

from grid.flags import add_flag, count, port, positive
from stack import rush
from stack.burst import BURST_SIZE, format_report, run_burst
from stack.processes import StackLayout, running_stack
from stack.prometheus import prometheus_binary

OUT_DIR = Path("out")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument("command", choices=("up", "demo", "burst"))
    parser.add_argument("--proxy-port", type=port, default=8080)
    parser.add_argument("--first-substation-port", type=port, default=8001)
    parser.add_argument(
        "--prometheus-port", type=port, default=9090, help="local Prometheus (`up`; 0: none)"
    )
    parser.add_argument(
        "--locust-port", type=port, default=8089, help="Locust web UI (`up`; 0: none)"
    )
    add_flag(
        parser,
        os.environ,
        "--seconds",
        "DEMO_SECONDS",
        positive,
        120.0,
        "seconds of the demo's rush hour",
    )
    parser.add_argument("--peak-users", type=count, help="drivers at the peak (RUSH_PEAK_USERS)")
    parser.add_argument("--burst", type=count, default=BURST_SIZE, help="EVs in the seed's burst")
    parser.add_argument("--seed", type=int, default=1, help="seed of the burst's vehicles and kW")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--grid",
        nargs=2,
        metavar=("PROXY_URL", "SUBSTATION_URLS"),
        help="`burst` through a grid already running (containers, say): the proxy's URL and the "
        "substations' comma-separated, read back for their loads; no local stack is started",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.command == "burst" and args.grid:
        proxy_url, substation_urls = args.grid
        return run_seed_burst(proxy_url, substation_urls.split(","), args.burst, args.seed)
    up = args.command == "up"
    state_dir = args.out / "state"
    if not up:  # a demo starts from an empty grid; `up` keeps what the substations carried
        shutil.rmtree(state_dir, ignore_errors=True)
    layout = StackLayout(
        state_dir=state_dir,
        first_substation_port=args.first_substation_port,
        proxy_port=args.proxy_port,
        prometheus_port=(args.prometheus_port or None) if up else None,
        locust_port=(args.locust_port or None) if up else None,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    with running_stack(layout, args.out / "logs"):
        if up:
            return serve_until_interrupted(layout)
        if args.command == "burst":
            return run_seed_burst(layout.proxy_url, layout.substation_urls(), args.burst, args.seed)
        return run_rush_hour(layout, args.seconds, args.out, args.peak_users)


def serve_until_interrupted(layout: StackLayout) -> int:
    print(f"proxy      {layout.proxy_url}  (live grid page; POST /charge, GET /substations)")
    for (name, _, capacity_kw), url in zip(
        layout.substations(), layout.substation_urls(), strict=True
    ):
        print(f"{name:<10} {url}  ({capacity_kw:g} kW)")
    if layout.prometheus_url and prometheus_binary():
        print(f"prometheus {layout.prometheus_url}  (alert rules of prometheus/alerts.yml)")
    elif layout.prometheus_url:
        print("prometheus not started: no `prometheus` binary (apt-get install prometheus)")
    if layout.locust_url:
        print(f"locust     {layout.locust_url}  (web UI, pointed at the proxy)")
    print("Ctrl-C stops everything.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    return 0


def run_rush_hour(layout: StackLayout, seconds: float, out: Path, peak_users: int | None) -> int:
    print(f"Rush hour: {seconds:g} s of Locust's RushHour shape against {layout.proxy_url}")
    sampler = rush.LoadSampler(layout.proxy_url)
    sampler.start()
    try:
        locust_exit = rush.run_locust(layout.proxy_url, seconds, out, peak_users)
    finally:
        sampler.stop()
    stats = rush.read_locust_stats(out / "demo_stats.json")
    peak_end_s = rush.PEAK_END_SHARE * seconds
    at_peak_end = rush.mean_loads(sampler.samples, peak_end_s - rush.PEAK_END_WINDOW_S, peak_end_s)
    sessions = rush.sessions_by_substation(layout.substation_urls())
    rush.plot_loads(sampler.samples, out / "load.png")
    print()
    print(rush.format_rush_report(stats, at_peak_end, sessions))
    print(f"Locust's report: {out / 'demo-report.html'}; load over time: {out / 'load.png'}")
    return 0 if locust_exit == 0 and stats.failures == 0 else 1


def run_seed_burst(proxy_url: str, substation_urls: list[str], burst: int, seed: int) -> int:
    result = asyncio.run(run_burst(proxy_url, substation_urls, burst, seed))
    title = f"The seed's rush hour: {burst} EVs at once, 5-20 kW each, via {proxy_url}"
    print(format_report(result, title))
    balanced = result.spread_kw <= result.largest_amount_kw
    print("balanced within one request: " + ("yes" if balanced else "NO"))
    return 0 if result.failed == 0 and balanced else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
