"""`python -m bench.soak`: about 10 minutes of rush hour against the local stack, then RSS.

A script, not a test: it prints each process's resident memory when the stack is idle, after
the first minute of traffic (warm: imports done, pools and buffers grown) and at the end, so a
leak shows as growth from the warm figure to the end. Bounded: Locust's RushHour shape stops
by itself, and everything started here is stopped here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from stack.processes import LocalStack, StackLayout, running_stack

ROOT = Path(__file__).resolve().parent.parent
WARM_AFTER_S = 60.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def snapshot(stack: LocalStack) -> dict[str, int]:
    return {name: rss_kib(process.pid) for name, process in stack.processes}


def run_locust(stack: LocalStack, seconds: float, out: Path) -> int:
    env = {**os.environ, "RUSH_SHAPE": "rush", "RUSH_SECONDS": f"{seconds:g}"}
    argv = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless"]
    argv += ["--host", stack.layout.proxy_url, "--only-summary", "--csv", str(out / "soak")]
    argv += ["--run-time", f"{seconds + 30:g}s"]
    with (out / "soak-locust.log").open("wb") as log:
        return subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=seconds + 120, check=False
        ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--first-port", type=int, default=8501)
    parser.add_argument("--out", type=Path, default=Path("out/soak"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    layout = StackLayout(
        first_substation_port=args.first_port,
        proxy_port=args.first_port + 3,
        prometheus_port=None,
        state_dir=args.out / "state",
    )
    with running_stack(layout, args.out / "logs") as stack:
        idle = snapshot(stack)
        warm: dict[str, int] = {}
        timer = threading.Timer(WARM_AFTER_S, lambda: warm.update(snapshot(stack)))
        timer.start()
        started = time.monotonic()
        locust_exit = run_locust(stack, args.seconds, args.out)
        timer.cancel()
        end = snapshot(stack)
    print(f"soak: {time.monotonic() - started:.0f} s of rush hour, Locust exit {locust_exit}")
    print(f"{'process':<14}{'idle MiB':>10}{'warm MiB':>10}{'end MiB':>10}{'end/warm':>10}")
    for name in end:
        ratio = end[name] / warm[name] if warm.get(name) else float("nan")
        print(
            f"{name:<14}{idle[name] / 1024:>10.1f}{warm.get(name, 0) / 1024:>10.1f}"
            f"{end[name] / 1024:>10.1f}{ratio:>10.3f}"
        )
    return locust_exit


if __name__ == "__main__":
    sys.exit(main())
