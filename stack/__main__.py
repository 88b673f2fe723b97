"""`python -m stack up` runs the local stack until Ctrl-C; `python -m stack demo` runs rush hour.

`make up` and `make demo` call these. The demo exits non-zero when any request failed or when
the substations end further apart than one request: the claims it prints are checked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from stack.burst import BURST_SIZE, format_report, run_burst
from stack.processes import StackLayout, running_stack
from stack.prometheus import prometheus_binary

OUT_DIR = Path("out")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument("command", choices=("up", "demo"))
    parser.add_argument("--proxy-port", type=int, default=8080)
    parser.add_argument("--first-substation-port", type=int, default=8001)
    parser.add_argument(
        "--prometheus-port", type=int, default=9090, help="local Prometheus (`up` only)"
    )
    parser.add_argument("--burst", type=int, default=BURST_SIZE, help="EVs in the demo's burst")
    parser.add_argument("--seed", type=int, default=1, help="seed of the demo's vehicles and kW")
    parser.add_argument("--log-dir", type=Path, default=OUT_DIR / "logs")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    layout = StackLayout(
        first_substation_port=args.first_substation_port,
        proxy_port=args.proxy_port,
        prometheus_port=args.prometheus_port if args.command == "up" else None,
    )
    with running_stack(layout, args.log_dir):
        if args.command == "up":
            return serve_until_interrupted(layout)
        return run_demo(layout, args.burst, args.seed)


def serve_until_interrupted(layout: StackLayout) -> int:
    print(f"proxy      {layout.proxy_url}  (POST /charge, GET /substations, /metrics)")
    for (name, _, capacity_kw), url in zip(
        layout.substations(), layout.substation_urls(), strict=False
    ):
        print(f"{name:<10} {url}  ({capacity_kw:g} kW)")
    if layout.prometheus_url and prometheus_binary():
        print(f"prometheus {layout.prometheus_url}  (alert rules of prometheus/alerts.yml)")
    elif layout.prometheus_url:
        print("prometheus not started: no `prometheus` binary (apt-get install prometheus)")
    print("Ctrl-C stops everything.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    return 0


def run_demo(layout: StackLayout, burst: int, seed: int) -> int:
    result = asyncio.run(run_burst(layout.proxy_url, layout.substation_urls(), burst, seed))
    title = f"The seed's rush hour: {burst} EVs at once, 5-20 kW each, via {layout.proxy_url}"
    print(format_report(result, title))
    balanced = result.spread_kw <= result.largest_amount_kw
    print("balanced within one request: " + ("yes" if balanced else "NO"))
    return 0 if result.failed == 0 and balanced else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
