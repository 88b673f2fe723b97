"""`python -m bench.workers`: the seed burst through `python -m proxy --workers 2`, the workers
sharing their bookings or not (docs/balance-lab.md).

Two workers share the port (SO_REUSEPORT), so the kernel splits the burst's connections between
them. Three modes: `shared` (as shipped: the workers tell each other every booking through
shared memory, `proxy.siblings`, and follow the load streams), `stream` (`--share-bookings off`:
each learns the other's bookings only from the substations' reports, within a
`--report-interval` of 50 ms) and `blind` (no stream either: only from the answers it gets
itself, and the poll).
Each trial is the seed's: three fresh substations of 500 kW, 100 requests at once (the seed's
payloads, seed = the trial's number); the spread is max - min of the substations' loads read
from their own `/metrics` afterwards, "within one request" when it is at most the largest
amount asked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from proxy.balancer import Balancer
from proxy.siblings import Booked, SiblingBoard, SiblingLink, Siblings
from stack.burst import BurstResult, run_burst
from stack.processes import StackLayout, free_port_run, running_stack, wait_until_healthy

MODES = {  # mode: (--load-stream, --share-bookings)
    "shared": ("on", "on"),
    "stream": ("on", "off"),
    "blind": ("off", "off"),
}


def seed_burst(layout: StackLayout, log_dir: Path, mode: str, seed: int) -> dict[str, Any]:
    """Spread and failures after the seed burst, through a proxy with two workers."""
    load_stream, share_bookings = MODES[mode]
    port = layout.proxy_port + 1
    with running_stack(layout, log_dir):
        argv = [sys.executable, "-m", "proxy", "--port", str(port), "--workers", "2"]
        argv += ["--substations", ",".join(layout.substation_urls())]
        argv += ["--load-stream", load_stream, "--share-bookings", share_bookings]
        argv += ["--poll-interval", "5"]
        proxy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", [("proxy", proxy)])
            time.sleep(2.0)  # both workers up, every stream open
            result = asyncio.run(
                run_burst(f"http://127.0.0.1:{port}", layout.substation_urls(), seed=seed)
            )
        finally:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(timeout=20)
    return burst_row(mode, seed, result)


def burst_row(mode: str, seed: int, result: BurstResult) -> dict[str, Any]:
    return {
        "mode": mode,
        "seed": seed,
        "spread_kw": round(result.spread_kw, 1),
        "largest_amount_kw": result.largest_amount_kw,
        "within_one_request": result.spread_kw <= result.largest_amount_kw,
        "failed": result.failed,
    }


def free_layout() -> StackLayout:
    first = free_port_run(5)
    return StackLayout(first_substation_port=first, proxy_port=first + 3, prometheus_port=None)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("--trials", type=int, default=10, help="seed bursts per mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch:
        for seed in range(1, args.trials + 1):
            for mode in MODES:
                log_dir = Path(scratch) / f"{mode}-{seed}"
                rows.append(seed_burst(free_layout(), log_dir, mode, seed))
    summary = {}
    for mode in MODES:
        spreads = [row["spread_kw"] for row in rows if row["mode"] == mode]
        within = sum(row["within_one_request"] for row in rows if row["mode"] == mode)
        failed = sum(row["failed"] for row in rows if row["mode"] == mode)
        summary[mode] = {
            "failed": failed,
            "spread_kw_median": float(statistics.median(spreads)),
            "spread_kw_max": max(spreads),
            "within_one_request": f"{within}/{len(spreads)}",
        }
    for row in rows:
        print(json.dumps(row), file=sys.stderr)
    cost_us = statistics.median(telling_cost_us() for _ in range(3))  # it varies run to run
    if args.json:
        print(json.dumps({**summary, "telling_us_per_charge": cost_us}, indent=2))
    else:
        print(format_summary(summary))
        print(f"telling and hearing, per charge: {cost_us:.2f} us")
    return 0


def telling_cost_us(charges: int = 50_000) -> float:
    """CPU per charge of what the workers tell each other (`proxy.siblings`), one worker's
    side of a booked charge: two records told (asked, then booked) and two heard."""
    board = SiblingBoard(multiprocessing.get_context("spawn"), 2)
    keys = [f"http://127.0.0.1:{8001 + number}" for number in range(3)]
    pair = []
    for number in range(2):
        grid = Balancer(rng=random.Random(number))
        grid.set_substations(keys)
        for key in keys:
            grid.record_report(key, 0.0, 0.0, 500.0)
        pair.append(Siblings(SiblingLink(board, number), grid, silent_after_s=11.0))
    teller, hearer = pair
    started = time.process_time()
    for number in range(charges):
        key = keys[number % 3]
        teller.tell(key)
        teller.tell(key, Booked(10.0, 60.0, ("a1b2c3d4e5f6", number)))
        hearer.hear(1.0)
    return (time.process_time() - started) / charges * 1e6


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{'workers':<14}{'median kW':>10}{'max kW':>8}{'within one request':>20}"]
    for mode, figures in summary.items():
        lines.append(
            f"{mode:<14}{figures['spread_kw_median']:>10.1f}"
            f"{figures['spread_kw_max']:>8.1f}{figures['within_one_request']:>20}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
