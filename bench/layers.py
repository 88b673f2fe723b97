"""`python -m bench.layers`: the proxy's CPU per charge, layer by layer, through real sockets.

Three fronts in turn before the same three NGINX upstreams (`bench.proxy`'s fast ones): the
floor (`bench.floor`: aiohttp's low-level server relaying, nothing else), the floor as the
`POST /charge` route of a `web.Application` routed as the proxy's is (`bench.floor --app`), and our
proxy. The front runs on the second core, wrk and the upstreams on the first, so that what is
counted is the front's own CPU; wrk drives each front for `--seconds`, in turn, `--rounds`
times. Printed: each front's median req/s and user and system CPU µs per request, and the
differences: what aiohttp's application layer adds to the floor, and what our charge path
(validation, choice, learning, relay, metrics) adds to that. `bench.path` splits the last into
its parts. A figure to read, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import peers
from bench.proxy import (
    CLOCK_TICKS,
    Processes,
    free_ports,
    run_wrk,
    start_upstreams,
    wait_for_charge,
)

FRONTS = {
    "floor": ["-m", "bench.floor"],
    "floor as an app": ["-m", "bench.floor", "--app"],
    "ours": ["-m", "proxy"],
}


@dataclass(frozen=True, slots=True)
class Round:
    requests_per_s: float
    user_us: float
    system_us: float


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def pinned(cpu: int) -> set[int]:
    """{cpu} when this machine has it, else every CPU this process may use."""
    allowed = os.sched_getaffinity(0)
    return {cpu} if cpu in allowed and len(allowed) > 1 else allowed


def start_front(name: str, port: int, upstreams: str, scratch: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, *FRONTS[name], "--port", str(port), "--substations", upstreams]
    second_core = pinned(1)
    with (scratch / f"front-{port}.log").open("wb") as log:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, second_core),  # noqa: PLW1509
        )


def measure(url: str, pid: int, settings: argparse.Namespace) -> Round:
    user_before, system_before = cpu_times(pid)
    result = run_wrk(url, settings.seconds, settings.connections, settings.script)
    user_after, system_after = cpu_times(pid)
    requests = max(1, result["requests"])
    return Round(
        requests / (result["duration_us"] / 1e6),
        (user_after - user_before) * 1e6 / requests,
        (system_after - system_before) * 1e6 / requests,
    )


def run(settings: argparse.Namespace, scratch: Path) -> dict[str, dict[str, float]]:
    os.sched_setaffinity(0, pinned(0))  # wrk and the upstreams: the first core
    procs = Processes(scratch)
    fronts: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    try:
        upstream_ports, _ = start_upstreams("fast", procs, scratch)
        upstreams = ",".join(f"http://127.0.0.1:{port}" for port in upstream_ports)
        for name, port in zip(FRONTS, free_ports(len(FRONTS)), strict=True):
            fronts[name] = (f"http://127.0.0.1:{port}", start_front(name, port, upstreams, scratch))
            wait_for_charge(fronts[name][0])
        rounds: dict[str, list[Round]] = {name: [] for name in FRONTS}
        for _ in range(settings.rounds):
            for name, (url, process) in fronts.items():
                rounds[name].append(measure(url, process.pid, settings))
    finally:
        for _, process in fronts.values():
            procs.started.append(process)
        procs.stop_all()
    return {
        name: {
            "requests_per_s": round(statistics.median(r.requests_per_s for r in taken), 1),
            "user_us": round(statistics.median(r.user_us for r in taken), 1),
            "system_us": round(statistics.median(r.system_us for r in taken), 1),
            "cpu_us": round(statistics.median(r.user_us + r.system_us for r in taken), 1),
        }
        for name, taken in rounds.items()
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    settings = parser.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"bench.layers needs {tool}: apt-get install {tool}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="bench-layers-") as scratch_dir:
        settings.script = Path(scratch_dir) / "charge.lua"
        settings.script.write_text(peers.WRK_SCRIPT)
        fronts = run(settings, Path(scratch_dir))
    floor, app, ours = (fronts[name]["cpu_us"] for name in FRONTS)
    layers = {"application_layer_us": round(app - floor, 1), "charge_path_us": round(ours - app, 1)}
    if settings.json:
        print(json.dumps({"fronts": fronts, **layers}, indent=2))
        return 0
    print(f"{'front':<18}{'req/s':>9}{'user µs':>10}{'sys µs':>9}{'CPU µs':>9}  (a request)")
    for name, figures in fronts.items():
        print(
            f"{name:<18}{figures['requests_per_s']:>9.0f}{figures['user_us']:>10.1f}"
            f"{figures['system_us']:>9.1f}{figures['cpu_us']:>9.1f}"
        )
    print(f"aiohttp's application layer adds {layers['application_layer_us']} µs a request;")
    print(f"our charge path adds {layers['charge_path_us']} µs more (bench.path has its parts).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
