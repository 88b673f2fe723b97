"""`python -m bench.choice`: nanoseconds per balancing choice at 3 to 3,000 substations.

A figure to read, not a test: `headroom` should stay flat past 8 substations (the utilization
index, `proxy/index.py`), where the full-scan baselines grow with the count. One choice is what
the charge path asks for: the best substation, then another only after a refusal.

The row `headroom, booked` is the charge path's balancer work at 3 substations when sessions
end within the lookahead: each choice is booked (sent, answered, its 2-s session recorded)
0.2 ms of virtual time after the last, as at 5,000 charges a second in front of
`bench.proxy`'s substations, so the outlook walks about 8 slots of ends at each substation.
The two rows under it: what one choice costs with sampled futures on (`--rollout-draws 48`,
`proxy.rollout`; off by default), and with up to 96 draws raced.

Each figure is the least of `--repeat` runs (5), taken in rounds across the substation counts so
that a machine slower for a while slows every count alike: the least is the choice's own cost,
and what is above it is other work on the machine (the `timeit` module's advice). The line under
the table gives `headroom`'s most over its least, the "flat within 2x" of the balance issue,
and the build it ran: by default the pure core compiled as the image runs it (`bench.compiled`
builds it into a scratch directory, and this runs again from there), or with `--build source`
this checkout's sources.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import compiled
from proxy import index
from proxy.balancer import POLICIES, Balancer
from proxy.shard import Shard
from proxy.tuning import HeadroomTuning

COUNTS = (3, 30, 300, 3000)
CHOICES = 20_000


def ns_per_choice(policy: str, count: int, shard: Shard | None = None) -> float:
    balancer = Balancer(policy=policy, rng=random.Random(1), shard=shard)  # type: ignore[arg-type]
    keys = [f"s{number}" for number in range(count)]
    balancer.set_substations(keys)
    rng = random.Random(2)
    for key in keys:
        balancer.record_poll(
            key, 0.0, load_kw=rng.uniform(0, 300), capacity_kw=500.0, draining=False
        )
    choices = CHOICES if count <= 300 else CHOICES // 10  # full scans of 3,000 are slow
    started = time.perf_counter_ns()
    for _ in range(choices):
        balancer.choose(11.0, 11.0, attempts=1, now=1.0)  # as the charge path asks
    return (time.perf_counter_ns() - started) / choices


def ns_per_booked_choice(choices: int = CHOICES, session_s: float = 2.0) -> float:
    """ns per choice, with its begin, end and booking, every 0.2 ms of virtual time."""
    balancer = Balancer(policy="headroom", rng=random.Random(1))
    keys = ["substation1", "substation2", "substation3"]
    balancer.set_substations(keys)
    for key in keys:
        balancer.record_poll(key, 0.0, load_kw=0.0, capacity_kw=1e9, draining=False)
    now = 1.0
    started = time.perf_counter_ns()
    for _ in range(choices):
        now += 0.0002
        (key,) = balancer.choose(11.0, 11.0, attempts=1, now=now)
        balancer.begin(key, 11.0)
        balancer.end(key, 11.0)
        balancer.record_booking(key, now + session_s, 11.0, now)
    return (time.perf_counter_ns() - started) / choices


# Sampled futures, off by default: as `--rollout-draws 48` sets them, and raced
# (docs/balance-lab.md, "Sampled futures shipped as an option").
FUTURES = (
    ("headroom, futures", HeadroomTuning(rollout_draws=48), "--rollout-draws 48, off by default"),
    (
        "headroom, raced",
        HeadroomTuning(rollout_draws=96, rollout_batch=12),
        "up to 96 draws raced in 12s, off by default",
    ),
)


def ns_per_futures_choice(tuning: HeadroomTuning, choices: int = 40) -> float:
    """ns per choice with sampled futures on (`proxy.rollout`, as `tuning` sets them): the user's
    failure scenario's grid (600, 400 and 250 kW at 60 %), a minute of 7-22 kW bookings at 1.2
    a second behind it, and each choice booked 1/1.2 s after the last, for a 60-s session."""
    balancer = Balancer(policy="headroom", rng=random.Random(1), tuning=tuning)
    capacities_kw = {"north": 600.0, "east": 400.0, "south": 250.0}
    balancer.set_substations(capacities_kw)
    for key, capacity_kw in capacities_kw.items():
        balancer.record_poll(
            key, 0.0, load_kw=0.6 * capacity_kw, capacity_kw=capacity_kw, draining=False
        )
    rng = random.Random(2)
    for number in range(72):
        booked_at = number / 1.2
        balancer.record_booking(
            rng.choice(list(capacities_kw)), booked_at + 60.0, rng.uniform(7, 22), booked_at
        )
    now, elapsed_ns = 60.0, 0
    for _ in range(choices):
        now += 1 / 1.2
        kw = rng.uniform(7, 22)
        started = time.perf_counter_ns()
        (key,) = balancer.choose(kw, kw / 2, attempts=1, now=now)
        elapsed_ns += time.perf_counter_ns() - started
        balancer.record_booking(key, now + 60.0, kw, now)
    return elapsed_ns / choices


def least_of(repeat: int, policy: str, shard: Shard | None = None) -> list[float]:
    """The least ns per choice at each of `COUNTS`, measured in `repeat` rounds across them."""
    rounds = [[ns_per_choice(policy, count, shard) for count in COUNTS] for _ in range(repeat)]
    return [min(column) for column in zip(*rounds, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.choice", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each figure, the least kept")
    parser.add_argument(
        "--build",
        choices=("compiled", "source"),
        default="compiled",
        help="the pure core compiled, as the image runs it (built first, about a minute), or "
        "this checkout's sources",
    )
    parser.add_argument("--in-build", action="store_true", help=argparse.SUPPRESS)
    settings = parser.parse_args(argv)
    repeat = max(1, settings.repeat)
    running = "compiled" if index.__file__.endswith(".so") else "source"
    if settings.build == "compiled" and running == "source" and not settings.in_build:
        with tempfile.TemporaryDirectory(prefix="bench-choice-") as scratch:
            site = compiled.build(Path(scratch))  # run again from it: its modules come first
            again = [sys.executable, "-m", "bench.choice", "--repeat", str(repeat), "--in-build"]
            return subprocess.run(again, cwd=site, check=False).returncode
    if settings.build != running:
        print(f"asked for the {settings.build} build, {running} imported", file=sys.stderr)
        return 2
    print_table(repeat, running)
    return 0


def print_table(repeat: int, build: str) -> None:
    print(f"{'policy':<18}" + "".join(f"{count:>10}" for count in COUNTS) + "   (ns per choice)")
    span = 0.0
    for policy in POLICIES:
        figures = least_of(repeat, policy)
        if policy == "headroom":
            span = max(figures) / min(figures)
        print(f"{policy:<18}" + "".join(f"{ns:>10.0f}" for ns in figures), flush=True)
    # One of 8 replicas (`--shard 3/8`): its own share first, then the whole index.
    figures = least_of(repeat, "headroom", Shard(3, 8))
    print(f"{'headroom, 3/8':<18}" + "".join(f"{ns:>10.0f}" for ns in figures), flush=True)
    booked = min(ns_per_booked_choice() for _ in range(repeat))
    print(f"{'headroom, booked':<18}{booked:>10.0f}   (3 substations, 2-s sessions)", flush=True)
    for label, tuning, note in FUTURES:
        futures = min(ns_per_futures_choice(tuning) for _ in range(repeat))
        print(f"{label:<18}{futures:>10.0f}   (3 substations, {note})", flush=True)
    print(
        f"the least of {repeat} runs each, the {build} build; headroom's most over its least: "
        f"{span:.2f}x (3/8: {max(figures) / min(figures):.2f}x)",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
