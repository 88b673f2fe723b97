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
process).
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


def counted_instructions(dump: Path) -> int:
    """The instructions (callgrind's `Ir`) a dump holds: its `totals:` line."""
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"{dump} has no totals line")


def callgrind_control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def count_front(name: str, procs: Processes, upstreams: str, settings: argparse.Namespace) -> int:
    """Instructions per request of one front, started under callgrind and stopped after."""
    (port,) = free_ports(1)
    argv = [*FRONTS[name], "--port", str(port), "--substations", upstreams]
    return count_process(f"front-{port}", argv, port, procs, settings)


def count_substation(procs: Processes, settings: argparse.Namespace) -> int:
    """Instructions per `POST /charge` of one of our substations, wrk straight at it (as
    `bench.proxy` starts them: sessions end two seconds later, so it expires as it books)."""
    (port,) = free_ports(1)
    argv = ["-m", "substation", "--name", "counted", "--port", str(port)]
    argv += ["--capacity-kw", "1e9", "--session-seconds", "2"]
    return count_process(f"substation-{port}", argv, port, procs, settings)


def count_process(
    label: str, argv: list[str], port: int, procs: Processes, settings: argparse.Namespace
) -> int:
    """Instructions per request answered of `python argv...` serving on `port`."""
    dumps = settings.scratch / f"callgrind-{port}"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
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
    return round(counted_instructions(Path(f"{dumps}.1")) / max(1, answered))


def run(settings: argparse.Namespace) -> dict[str, int]:
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
        per_request = run(settings)
    floor = per_request["floor"]
    report: dict[str, object] = {
        "build": settings.build,
        "upstreams": settings.upstreams,
        "instructions_per_request": per_request,
        "ratio_ours_vs_floor": round(per_request["ours"] / floor, 3),
        "ratio_app_vs_floor": round(per_request["floor as an app"] / floor, 3),
    }
    if settings.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'front':<18}{'instructions a request':>24}   ({settings.build}, {settings.upstreams})")
    for name, count in per_request.items():
        print(f"{name:<18}{count:>24,}")
    print(
        f"ours / floor: {report['ratio_ours_vs_floor']}x; the floor as an app / floor: "
        f"{report['ratio_app_vs_floor']}x"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same hashes, so the same work, each run
    sys.exit(main(sys.argv[1:]))
