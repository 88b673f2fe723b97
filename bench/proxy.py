"""`python -m bench.proxy`: our proxy beside HAProxy and NGINX, same machine, same run.

Two kinds of upstream, three of each: NGINX answering a fixed session (so the proxy's own cost
shows) and our substations (large capacity, 2-second sessions, so they never refuse). In front
of each kind: our proxy, HAProxy (`balance leastconn`, one thread) and NGINX (`least_conn`, one
worker), all keeping connections to the upstreams alive, "floor" (the least an aiohttp proxy
does: `bench.floor`), and "direct" to one upstream. wrk drives each (POST with a unique vehicle
per request, fixed connections), interleaved A B C D E, for several rounds; then a fixed rate
of about 1,000 requests a second for latency. Printed: req/s, p50, p99, the front process's CPU
microseconds per request, ours/HAProxy and ours/NGINX per round and their medians. Figures
move from run to run on a shared machine; ratios hold.

Ours and our substations run as the image runs them, their pure core compiled (`setup.py`,
built by `bench.compiled` into the scratch directory first, about 20 s); `--build source` runs
them from this checkout's sources instead. The floor runs from the same build as ours, since
it relays over our pool.

By default every process shares both cores, the fronts with wrk and the upstreams. With
`--pin`, each front (ours, HAProxy, NGINX, the floor) runs on the second core alone and wrk and
the upstreams on the first, as `bench.layers` runs them: each front's CPU is its own, not what
the load generator leaves it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import compiled, peers

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# "floor" is the least an aiohttp proxy does (bench.floor): what of ours is aiohttp's own cost.
FRONTS = ("ours", "haproxy", "nginx", "floor", "direct")


@dataclass(frozen=True, slots=True)
class Row:
    upstream: str
    front: str
    round: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float | None
    errors: int


class Processes:
    """Everything this benchmark starts, stopped by PID at the end. Ours (the proxy, the
    substations and the floor) start in `ours_from` if given: a compiled build's directory
    (`bench.compiled`), whose modules they then import."""

    def __init__(
        self, scratch: Path, ours_from: Path | None = None, front_cpus: set[int] | None = None
    ) -> None:
        self.scratch = scratch
        self.ours_from = ours_from
        self.front_cpus = front_cpus  # `--pin`: the CPUs the fronts run on
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, argv: list[str], ours: bool = False, front: bool = False
    ) -> subprocess.Popen[bytes]:
        where = self.ours_from if ours else None
        cpus = self.front_cpus if front else None
        with (self.scratch / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=where,
                preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),  # noqa: PLW1509
            )
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                self.stop(process)


def front_cpus(pin: bool) -> set[int] | None:
    """With `pin` and two CPUs or more: this process (so wrk and the upstreams it starts) on the
    first, and the second for the fronts. Otherwise None: everything everywhere."""
    allowed = sorted(os.sched_getaffinity(0))
    if not pin or len(allowed) < 2:
        return None
    os.sched_setaffinity(0, {allowed[0]})
    return {allowed[1]}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def wait_for_charge(url: str, timeout_s: float = 20.0) -> None:
    """Until a POST /charge through `url` is answered 201."""
    deadline = time.monotonic() + timeout_s
    body = json.dumps({"vehicle_id": f"EV-warm-{time.time_ns()}", "amount": 1}).encode()
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{url}/charge", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status in (200, 201):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not take a charge within {timeout_s:g} s")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (our proxy's workers are its children)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def run_wrk(
    url: str, seconds: float, connections: int, script: Path, delay_ms: int = 0
) -> dict[str, Any]:
    env = {**os.environ, "DELAY_MS": str(delay_ms)}
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    finished = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=seconds + 60, check=True
    )
    line = next(row for row in reversed(finished.stdout.splitlines()) if row.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    return result


def measure(
    upstream: str,
    front: str,
    url: str,
    pid: int | None,
    settings: argparse.Namespace,
    rnd: int,
    connections: int | None = None,
    delay_ms: int = 0,
) -> Row:
    """One wrk run at a front, and the front's CPU a request meanwhile (`rnd` 0: the latency
    run, about 1,000 req/s)."""
    before = cpu_seconds(pid) if pid else 0.0
    connections = settings.connections if connections is None else connections
    result = run_wrk(url, settings.seconds, connections, settings.script, delay_ms)
    used = cpu_seconds(pid) - before if pid else 0.0
    requests = max(1, result["requests"])
    return Row(
        upstream=upstream,
        front=front,
        round=rnd,
        requests_per_s=requests / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        cpu_us_per_request=used * 1e6 / requests if pid else None,
        errors=result["errors"] + result["non2xx"],
    )


def start_upstreams(kind: str, procs: Processes, scratch: Path) -> tuple[list[int], list[int]]:
    """Three upstreams of a kind: their ports and the PIDs that serve them."""
    ports = free_ports(3)
    if kind == "fast":
        prefix = scratch / "nginx-upstreams"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(peers.nginx_upstreams_conf(prefix, ports))
        process = procs.start("nginx-upstreams", ["nginx", "-p", str(prefix), "-c", str(conf)])
        pids = [process.pid] * 3
    else:
        pids = []
        for index, port in enumerate(ports, start=1):
            argv = [sys.executable, "-m", "substation", "--name", f"substation{index}"]
            argv += ["--port", str(port), "--capacity-kw", "1e9", "--session-seconds", "2"]
            pids.append(procs.start(f"substation{index}", argv, ours=True).pid)
    for port in ports:
        wait_for_charge(f"http://127.0.0.1:{port}")
    return ports, pids


def start_fronts(
    procs: Processes, scratch: Path, upstream_ports: list[int], workers: int
) -> dict[str, tuple[str, subprocess.Popen[bytes]]]:
    ours_port, haproxy_port, nginx_port, floor_port = free_ports(4)
    urls = ",".join(f"http://127.0.0.1:{port}" for port in upstream_ports)
    ours = [sys.executable, "-m", "proxy", "--port", str(ours_port), "--substations", urls]
    if workers > 1:
        ours += ["--workers", str(workers)]
    floor = [sys.executable, "-m", "bench.floor", "--port", str(floor_port), "--substations", urls]
    haproxy_conf = scratch / f"haproxy-{haproxy_port}.cfg"
    haproxy_conf.write_text(peers.haproxy_conf(haproxy_port, upstream_ports))
    nginx_prefix = scratch / f"nginx-front-{nginx_port}"
    nginx_prefix.mkdir()
    nginx_conf = nginx_prefix / "nginx.conf"
    nginx_conf.write_text(peers.nginx_front_conf(nginx_prefix, nginx_port, upstream_ports))
    fronts = {
        "ours": (
            f"http://127.0.0.1:{ours_port}",
            procs.start("ours", ours, ours=True, front=True),
        ),
        "haproxy": (
            f"http://127.0.0.1:{haproxy_port}",
            procs.start("haproxy", ["haproxy", "-db", "-f", str(haproxy_conf)], front=True),
        ),
        "nginx": (
            f"http://127.0.0.1:{nginx_port}",
            procs.start(
                "nginx-front", ["nginx", "-p", str(nginx_prefix), "-c", str(nginx_conf)], front=True
            ),
        ),
        # The floor relays over our pool: from the same build as ours (compiled or not).
        "floor": (
            f"http://127.0.0.1:{floor_port}",
            procs.start("floor", floor, ours=True, front=True),
        ),
    }
    for url, _ in fronts.values():
        wait_for_charge(url)
    return fronts


def bench_kind(
    kind: str, procs: Processes, scratch: Path, settings: argparse.Namespace
) -> tuple[list[Row], list[Row]]:
    """Throughput rows (rounds x fronts) and latency rows (one per front) for one upstream kind."""
    upstream_ports, upstream_pids = start_upstreams(kind, procs, scratch)
    fronts = start_fronts(procs, scratch, upstream_ports, settings.workers)
    targets: dict[str, tuple[str, int | None]] = {
        name: (url, process.pid) for name, (url, process) in fronts.items()
    }
    targets["direct"] = (f"http://127.0.0.1:{upstream_ports[0]}", None)
    rows = []
    for rnd in range(1, settings.rounds + 1):
        for front in FRONTS:
            url, pid = targets[front]
            rows.append(measure(kind, front, url, pid, settings, rnd))
            print(format_row(rows[-1]), file=sys.stderr, flush=True)
    latency = []
    for front in FRONTS:
        url, pid = targets[front]
        # 10 connections, each waiting 10 ms between requests: about 1,000 requests a second.
        # The front's CPU a request too: at this rate each request finds it idle.
        latency.append(measure(kind, front, url, pid, settings, 0, connections=10, delay_ms=10))
        print(format_row(latency[-1]), file=sys.stderr, flush=True)
    for _, process in fronts.values():
        procs.stop(process)
    del upstream_pids
    return rows, latency


def format_row(row: Row) -> str:
    cpu = "-" if row.cpu_us_per_request is None else f"{row.cpu_us_per_request:.1f}"
    label = "1k/s" if row.round == 0 else f"r{row.round}"
    return (
        f"{row.upstream:<12}{row.front:<9}{label:<6}{row.requests_per_s:>10.0f}"
        f"{row.p50_ms:>9.3f}{row.p99_ms:>9.3f}{cpu:>9}{row.errors:>8}"
    )


def ratio(rows: list[Row], upstream: str, rnd: int, peer: str, front: str = "ours") -> float:
    by_front = {r.front: r for r in rows if r.upstream == upstream and r.round == rnd}
    return by_front[front].requests_per_s / by_front[peer].requests_per_s


def summarize(rows: list[Row], latency: list[Row], rounds: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind, label in (("fast", "fast"), ("substations", "substations")):
        for peer in ("haproxy", "nginx"):
            per_round = [ratio(rows, kind, rnd, peer) for rnd in range(1, rounds + 1)]
            summary[f"ratio_{label}_vs_{peer}_per_round"] = [round(r, 3) for r in per_round]
            summary[f"ratio_{label}_vs_{peer}"] = round(statistics.median(per_round), 3)
    for kind in ("fast", "substations"):
        per_round = [ratio(rows, kind, rnd, "haproxy", "floor") for rnd in range(1, rounds + 1)]
        summary[f"ratio_floor_{kind}_vs_haproxy"] = round(statistics.median(per_round), 3)
    ours_fast = [r.cpu_us_per_request for r in rows if r.front == "ours" and r.upstream == "fast"]
    summary["proxy_cpu_us_per_request"] = round(statistics.median(c for c in ours_fast if c), 1)
    for peer in ("haproxy", "nginx", "floor"):
        peer_cpu = [r.cpu_us_per_request for r in rows if r.front == peer and r.upstream == "fast"]
        summary[f"{peer}_cpu_us_per_request"] = round(
            statistics.median(c for c in peer_cpu if c), 1
        )
    # Against the floor (aiohttp's low-level server relaying, nothing else), in the same run.
    per_round = [ratio(rows, "fast", rnd, "floor") for rnd in range(1, rounds + 1)]
    summary["ratio_fast_vs_floor"] = round(statistics.median(per_round), 3)
    summary["cpu_ratio_vs_floor"] = round(
        summary["proxy_cpu_us_per_request"] / summary["floor_cpu_us_per_request"], 2
    )
    at_1k = {(r.upstream, r.front): r for r in latency}
    summary["added_p50_ms_at_1k"] = round(
        at_1k[("fast", "ours")].p50_ms - at_1k[("fast", "direct")].p50_ms, 3
    )
    summary["added_p50_ms_at_1k_substations"] = round(
        at_1k[("substations", "ours")].p50_ms - at_1k[("substations", "direct")].p50_ms, 3
    )
    # What the floor adds, and every front's CPU a request at that rate (each request finds
    # the front idle: on this machine 1.5-3 times its CPU at saturation, docs/performance.md).
    summary["floor_added_p50_ms_at_1k"] = round(
        at_1k[("fast", "floor")].p50_ms - at_1k[("fast", "direct")].p50_ms, 3
    )
    summary["cpu_us_per_request_at_1k"] = {
        front: round(row.cpu_us_per_request, 1)
        for (upstream, front), row in at_1k.items()
        if upstream == "fast" and row.cpu_us_per_request is not None
    }
    return summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds: a smoke run")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="our proxy's worker processes")
    parser.add_argument(
        "--build",
        choices=("compiled", "source"),
        default="compiled",
        help="ours as the image runs it (default), or from this checkout's sources",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="each front on the second core alone; wrk and the upstreams on the first",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 1.0
    return args


def main(argv: list[str]) -> int:
    settings = parse_args(argv)
    # Stopped with SIGTERM, still stop everything it started (the ExitStack below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("wrk", "haproxy", "nginx"):
        if shutil.which(tool) is None:
            print(f"bench.proxy needs {tool}: apt-get install {tool}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as scratch_dir, ExitStack() as stack:
        scratch = Path(scratch_dir)
        settings.script = scratch / "charge.lua"
        settings.script.write_text(peers.WRK_SCRIPT)
        ours_from = compiled.build(scratch / "compiled") if settings.build == "compiled" else None
        procs = Processes(scratch, ours_from, front_cpus(settings.pin))
        stack.callback(procs.stop_all)
        header = f"{'upstream':<12}{'front':<9}{'run':<6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        print(header + f"{'cpu us':>9}{'errors':>8}", file=sys.stderr)
        rows, latency = [], []
        for kind in ("fast", "substations"):
            kind_rows, kind_latency = bench_kind(kind, procs, scratch, settings)
            rows += kind_rows
            latency += kind_latency
    summary = summarize(rows, latency, settings.rounds)
    summary["workers"] = settings.workers
    summary["build"] = settings.build
    summary["layout"] = "pinned" if procs.front_cpus else "shared"
    summary["rows"] = [asdict(row) for row in rows + latency]
    if settings.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            if key != "rows":
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
