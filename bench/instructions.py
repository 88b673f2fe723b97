"""`python -m bench.instructions`: the proxy's work per charge, counted in CPU instructions.

CPU time per request moves by ±15 % between runs on a shared 2-core machine, even interleaved
(`bench.layers`); the instructions a process executes do not depend on what else runs beside
it. This runs `bench.layers`' three fronts in turn (the floor, the floor as an app, ours)
before the same three upstreams (NGINX answering a fixed session, or with `--upstreams
substations` ours, whose sessions end two seconds later, so that `headroom`'s outlook has ends
to walk), each under valgrind's callgrind with its counting switched on only while wrk drives
it (`--seconds`, 16 connections, after a warm-up), and prints the instructions each executed
per request answered, and ours against the floor; with `--upstreams substations`, also one
substation alone, charged straight by wrk (its instructions a charge). Ours and the floor run
as the image runs them (`setup.py`'s pure core compiled, built by `bench.compiled` first), or
from the sources with `--build source`. A figure to read, not a test: it counts work, not
time (a cache miss or a system call's time in the kernel is not an instruction of the
process). With `--cache-sim`, callgrind also simulates the caches and the branch predictor, and
each front's misses a request are printed with KCachegrind's cycle estimate: whether misses,
not instructions, make up what time shows beyond the instruction count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import compiled, peers
from bench.layers import FRONTS
from bench.proxy import Processes, free_ports, run_wrk, start_upstreams, wait_for_charge

CONNECTIONS = 16
WARM_UP_S = 3.0


# Callgrind's events with `--cache-sim=yes --branch-sim=yes`, as its dump names them: first-level
# instruction and data misses, last-level ones, and mispredicted branches (conditional, indirect).
MISS_EVENTS = ("I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bcm", "Bim")


def counted_events(dump: Path) -> dict[str, int]:
    """Each event a dump counts (its `events:` line) with its total (its `totals:` line):
    `Ir`, the instructions, always; the misses too under `--cache-sim`."""
    names: list[str] = []
    for line in dump.read_text().splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith("totals:"):
            return dict(zip(names, (int(total) for total in line.split()[1:]), strict=True))
    raise ValueError(f"{dump} has no totals line")


def cycle_estimate(per_request: dict[str, int]) -> int:
    """KCachegrind's cycle estimate from callgrind's events: an instruction a cycle, a
    first-level miss 10 more, a last-level miss 100 more, a mispredicted branch 10 more. A
    model, not a measure: it says whether misses, not instructions, make up a gap in time."""
    first_level = sum(per_request[event] for event in ("I1mr", "D1mr", "D1mw"))
    last_level = sum(per_request[event] for event in ("ILmr", "DLmr", "DLmw"))
    mispredicted = per_request["Bcm"] + per_request["Bim"]
    return per_request["Ir"] + 10 * first_level + 100 * last_level + 10 * mispredicted


def callgrind_control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def count_front(
    name: str, procs: Processes, upstreams: str, settings: argparse.Namespace
) -> dict[str, int]:
    """Callgrind's events per request of one front, started under callgrind and stopped after."""
    (port,) = free_ports(1)
    argv = [*FRONTS[name], "--port", str(port), "--substations", upstreams]
    return count_process(f"front-{port}", argv, port, procs, settings)


def count_substation(procs: Processes, settings: argparse.Namespace) -> dict[str, int]:
    """Callgrind's events per `POST /charge` of one of our substations, wrk straight at it (as
    `bench.proxy` starts them: sessions end two seconds later, so it expires as it books)."""
    (port,) = free_ports(1)
    argv = ["-m", "substation", "--name", "counted", "--port", str(port)]
    argv += ["--capacity-kw", "1e9", "--session-seconds", "2"]
    return count_process(f"substation-{port}", argv, port, procs, settings)


def count_process(
    label: str, argv: list[str], port: int, procs: Processes, settings: argparse.Namespace
) -> dict[str, int]:
    """Callgrind's events per request answered of `python argv...` serving on `port`."""
    dumps = settings.scratch / f"callgrind-{port}"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    if settings.cache_sim:
        command += ["--cache-sim=yes", "--branch-sim=yes"]
    command += [f"--callgrind-out-file={dumps}", sys.executable, *argv]
    process = procs.start(label, command, ours=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_charge(url, timeout_s=180)  # a process under valgrind starts slowly
        run_wrk(url, WARM_UP_S, CONNECTIONS, settings.script)
        callgrind_control("--instr=on", process.pid)
        answered: int = run_wrk(url, settings.seconds, CONNECTIONS, settings.script)["requests"]
        callgrind_control("--instr=off", process.pid)
        callgrind_control("--dump", process.pid)
    finally:
        procs.stop(process)
    # `--dump` writes the counts so far to the out file with ".1" added (its first dump).
    totals = counted_events(Path(f"{dumps}.1"))
    return {event: round(total / max(1, answered)) for event, total in totals.items()}


def run(settings: argparse.Namespace) -> dict[str, dict[str, int]]:
    scratch: Path = settings.scratch
    ours_from = compiled.build(scratch / "compiled") if settings.build == "compiled" else None
    procs = Processes(scratch, ours_from)
    try:
        upstream_ports, _ = start_upstreams(settings.upstreams, procs, scratch)
        upstreams = ",".join(f"http://127.0.0.1:{port}" for port in upstream_ports)
        counts = {name: count_front(name, procs, upstreams, settings) for name in FRONTS}
        if settings.upstreams == "substations":  # and one of them alone, charged directly
            counts["substation"] = count_substation(procs, settings)
        return counts
    finally:
        procs.stop_all()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="wrk's run, counted")
    parser.add_argument("--build", choices=("compiled", "source"), default="compiled")
    parser.add_argument(
        "--upstreams",
        choices=("fast", "substations"),
        default="fast",
        help="NGINX answering a fixed session, or our substations (as bench.proxy's two kinds)",
    )
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="also simulate the caches and branch predictor: misses a request, a cycle estimate",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    settings = parser.parse_args(argv)
    for tool in ("wrk", "nginx", "valgrind"):
        if shutil.which(tool) is None:
            print(f"bench.instructions needs {tool}: apt-get install {tool}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as scratch_dir:
        settings.scratch = Path(scratch_dir)
        settings.script = settings.scratch / "charge.lua"
        settings.script.write_text(peers.WRK_SCRIPT)
        events = run(settings)
    report = instruction_report(events, settings)
    if settings.json:
        print(json.dumps(report, indent=2))
        return 0
    print_report(events, report, settings)
    return 0


def instruction_report(
    events: dict[str, dict[str, int]], settings: argparse.Namespace
) -> dict[str, object]:
    per_request = {name: counted["Ir"] for name, counted in events.items()}
    floor = per_request["floor"]
    report: dict[str, object] = {
        "build": settings.build,
        "upstreams": settings.upstreams,
        "instructions_per_request": per_request,
        "ratio_ours_vs_floor": round(per_request["ours"] / floor, 3),
        "ratio_app_vs_floor": round(per_request["floor as an app"] / floor, 3),
    }
    if settings.cache_sim:
        cycles = {name: cycle_estimate(counted) for name, counted in events.items()}
        report["misses_per_request"] = {
            name: {event: counted[event] for event in MISS_EVENTS}
            for name, counted in events.items()
        }
        report["cycle_estimate_per_request"] = cycles
        report["cycle_ratio_ours_vs_floor"] = round(cycles["ours"] / cycles["floor"], 3)
    return report


def print_report(
    events: dict[str, dict[str, int]], report: dict[str, object], settings: argparse.Namespace
) -> None:
    print(f"{'front':<18}{'instructions a request':>24}   ({settings.build}, {settings.upstreams})")
    for name, counted in events.items():
        print(f"{name:<18}{counted['Ir']:>24,}")
    print(
        f"ours / floor: {report['ratio_ours_vs_floor']}x; the floor as an app / floor: "
        f"{report['ratio_app_vs_floor']}x"
    )
    if not settings.cache_sim:
        return
    print(f"\n{'front':<18}" + "".join(f"{event:>9}" for event in MISS_EVENTS) + "   cycle est.")
    for name, counted in events.items():
        misses = "".join(f"{counted[event]:>9,}" for event in MISS_EVENTS)
        print(f"{name:<18}{misses}{cycle_estimate(counted):>14,}")
    print(f"cycle estimate, ours / floor: {report['cycle_ratio_ours_vs_floor']}x")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same hashes, so the same work, each run
    sys.exit(main(sys.argv[1:]))
