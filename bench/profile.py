"""`python -m bench.profile`: where the proxy's CPU goes on the charge path, by part.

The proxy (`python -m proxy`) in front of three NGINX upstreams answering a fixed session (as
`bench.proxy`'s fast upstreams; `--upstreams substations`: three of ours, whose sessions end
within the outlook's lookahead), wrk posting charges for `--seconds`, and py-spy sampling the
proxy meanwhile (`--rate` a second, idle time left out). Each sample goes to the part of the
path its innermost frame of ours belongs to (`part_of`); samples with no frame of ours go to
aiohttp's server (its protocol, request parsing, response writing) or to the event loop.
Printed: the share of the proxy's busy time by part, and req/s. A figure to read, not a test.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import peers
from bench.proxy import Processes, free_ports, run_wrk, start_upstreams, wait_for_charge

# (text in a frame of ours, the part it belongs to), the first match from the innermost frame.
PARTS = [
    ("_Connection.on_", "answer parse (httptools callbacks)"),
    ("_Connection.data_received", "answer parse (httptools callbacks)"),
    ("(proxy/pool.py", "upstream write (pool)"),
    ("(proxy/headroom.py", "balancer (choice)"),
    ("(proxy/index.py", "balancer (choice)"),
    ("(proxy/outlook.py", "balancer (choice)"),
    ("(proxy/balancer.py", "balancer (choice)"),
    ("(proxy/view.py", "balancer (choice)"),
    ("learn_answer", "learning (load report, health, session)"),
    ("answered (proxy/router.py", "learning (load report, health, session)"),
    ("(proxy/directory.py", "session directory"),
    ("(proxy/vehicle_line.py", "one charge per vehicle"),
    ("(proxy/metrics.py", "metrics"),
    ("(grid/protocol.py", "validation"),
    ("read_charge_body", "validation"),
    ("(proxy/charge.py", "validation"),
    ("relay (proxy/relay.py", "relay (answer to the client)"),
    ("forwarded_headers", "forwarded headers"),
    ("(proxy/attempt.py", "charge attempt (state machine)"),
    ("(proxy/router.py", "router (await loop)"),
    ("(proxy/relay.py", "handler (aiohttp calls made by post_charge)"),
    ("(grid/httpio.py", "handler (aiohttp calls made by post_charge)"),
]
LOOP_RUNNER = "_run_until_stopped (grid/httpio.py"  # runs the loop: each sample while serving


def part_of(frames: list[str]) -> str:
    """The part of the charge path one sample (its frames, outermost first) belongs to."""
    # What runs inside the loop: the frames below it (above it: `python -m proxy` starting).
    runner = next((n for n, frame in enumerate(frames) if frame.startswith(LOOP_RUNNER)), -1)
    inside = frames[runner + 1 :]
    for frame in reversed(inside):
        if "(proxy/" in frame or "(grid/" in frame:
            return next((part for text, part in PARTS if text in frame), "other code of ours")
    if any("aiohttp/" in frame for frame in inside):
        return "aiohttp server (protocol, request parse, response write)"
    return "event loop (uvloop) and the rest"


def shares(collapsed: str) -> collections.Counter[str]:
    """Samples by part, from py-spy's raw (collapsed) output: `frame;frame;... count`."""
    by_part: collections.Counter[str] = collections.Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            by_part[part_of(stack.split(";"))] += int(count)
    return by_part


def profile(seconds: float, rate: int, scratch: Path, upstreams: str) -> tuple[str, float]:
    procs = Processes(scratch)
    try:
        upstream_ports, _ = start_upstreams(upstreams, procs, scratch)
        (port,) = free_ports(1)
        urls = ",".join(f"http://127.0.0.1:{upstream}" for upstream in upstream_ports)
        argv = [sys.executable, "-m", "proxy", "--port", str(port), "--substations", urls]
        proxy = procs.start("proxy", argv)
        wait_for_charge(f"http://127.0.0.1:{port}")
        script = scratch / "charge.lua"
        script.write_text(peers.WRK_SCRIPT)
        out = scratch / "samples.txt"
        spy = [py_spy(), "record", "--pid", str(proxy.pid), "--nonblocking"]
        spy += ["--duration", f"{seconds:g}", "--rate", str(rate), "--format", "raw"]
        sampler = subprocess.Popen([*spy, "-o", str(out)], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        result = run_wrk(f"http://127.0.0.1:{port}", seconds + 1, 50, script)
        sampler.wait(timeout=60)
        return out.read_text(), result["requests"] / (result["duration_us"] / 1e6)
    finally:
        procs.stop_all()


def py_spy() -> str:
    """py-spy, a dev dependency: a binary beside this Python's, or on the PATH."""
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=400, help="py-spy samples a second")
    parser.add_argument(
        "--upstreams",
        choices=("fast", "substations"),
        default="fast",
        help="NGINX answering a fixed session, or our substations (as bench.proxy's two kinds)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
        collapsed, requests_per_s = profile(args.seconds, args.rate, Path(scratch), args.upstreams)
    by_part = shares(collapsed)
    total = sum(by_part.values())
    for part, count in by_part.most_common():
        print(f"{part:<58}{100 * count / total:6.1f} %")
    print(f"{total} samples; {requests_per_s:.0f} req/s under py-spy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
