"""`python -m proxy.simulate.bound SCENARIO.yaml [--seed N] [--policy P] [--json]`: how few
seconds over one request any placement could have had while failed substations came back.

A substation back from an outage is empty, and fills only with what is booked after. Every
placement of the sessions must then choose: fill it at once, or leave it below the others. The
simulator's `spread_p95` counts each second the spread is over one request. This tool runs the
scenario (as `python -m proxy.simulate`) and, for the minute after each return, finds the
fewest such seconds any placement could have had, even one that knew every charge in advance:

- in the window, from a return to one session later (or to its next failure), the
  substations back from an outage (the first two returning in it) only fill: their sessions
  were all booked since their return and last a session; their loads never exceed what the run
  booked anywhere since each return;
- the spread is at least the gap between the highest and the lowest of: each one's utilization
  and the mean utilization of all the other live substations (the others' highest is at or
  above their mean, their lowest at or below);
- the sessions are this run's (when each was booked, and its kW) and so is the live grid's
  total load each second: the bound is over every placement of them. (Another policy would
  book the same charges but for curtailments and refusals.)

The fewest seconds over the line of all load paths allowed so is found by dynamic programming
on a grid of loads (each cell counted over only if all of it is; `_seconds_over_at_least`).
It is a lower bound: no placement of those sessions, online or knowing the future, does
better; the gap to the run is what a better placement could at most gain there.
docs/balance-lab.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest
from proxy.attempt import Answered
from proxy.balancer import POLICIES, Policy
from proxy.simulate.__main__ import parse_overrides
from proxy.simulate.engine import Simulation
from proxy.simulate.scenario import Scenario, ScenarioError, load_scenario

GRID_STEPS = 200  # loads on a grid of this many steps of each capacity
_TRACKED = 2  # returns followed at once; later ones in the window count among the others


@dataclass(frozen=True, slots=True)
class Second:
    """One sample: the live grid's total load and capacity, the kW booked anywhere since the
    run began, and the spread measured."""

    at: float
    load_kw: float
    capacity_kw: float
    booked_kw: float
    spread: float


@dataclass(frozen=True, slots=True)
class Return:
    substation: str
    at: float
    capacity_kw: float


@dataclass(frozen=True, slots=True)
class Window:
    returns: tuple[Return, ...]
    start: float
    end: float
    at_least: int  # seconds over one request that no placement avoids
    this_run: int  # seconds over one request in this run


class SampledSimulation(Simulation):
    """The simulation, also noting each second the live totals and the kW booked so far."""

    def __init__(self, scenario: Scenario, policy: Policy, seed: int) -> None:
        super().__init__(scenario, policy, seed)
        self.booked_kw = 0.0
        self.seconds: list[Second] = []
        # The kW booked anywhere by the moment of each return, (substation, at): none booked
        # before it can be on the substation, which refused every charge until then.
        self.booked_by_return: dict[tuple[str, float], float] = {}

    def _admit(self, ledger: SessionLedger, request: ChargeRequest, ref: str | None) -> Answered:
        answered = super()._admit(ledger, request, ref)
        if answered.status == 201 and answered.session is not None:  # a new session
            self.booked_kw += answered.session.granted_kw
        return answered

    def _return(self, name: str) -> None:
        self.booked_by_return[name, self.now] = self.booked_kw
        super()._return(name)

    def _sample(self) -> None:
        super()._sample()  # the ledgers expired to now, the spread sampled
        live = [ledger for name, ledger in self.ledgers.items() if name not in self.down]
        if live:
            load_kw = sum(ledger.load_kw for ledger in live)
            capacity_kw = sum(ledger.capacity_kw for ledger in live)
            spread = self.measure.spreads[-1]
            self.seconds.append(Second(self.now, load_kw, capacity_kw, self.booked_kw, spread))


def return_windows(scenario: Scenario) -> list[tuple[float, float, tuple[Return, ...]]]:
    """Each window from a return to one session later (or to the next failure of a
    substation back in it), with the returns it holds; a return within an earlier window is
    in that one."""
    capacity = {spec.name: spec.capacity_kw for spec in scenario.substations}
    returns = sorted(
        (failure.until_s, failure.substation)
        for failure in scenario.failures
        if failure.until_s < scenario.duration_s
    )
    windows: list[tuple[float, float, tuple[Return, ...]]] = []
    for at, name in returns:
        back = Return(name, at, capacity[name])
        # Out again, it loses what it took: the window ends there.
        out_again = min(
            (f.at_s for f in scenario.failures if f.substation == name and f.at_s >= at),
            default=scenario.duration_s,
        )
        if windows and at < windows[-1][1]:
            start, end, held = windows[-1]
            windows[-1] = (start, min(end, out_again), (*held, back))
        else:
            end = min(at + scenario.session_seconds, scenario.duration_s, out_again)
            windows.append((at, end, (back,)))
    return windows


def bound_window(
    seconds: Sequence[Second],
    start: float,
    end: float,
    returns: Sequence[Return],
    line: float,
    booked_by_return: Mapping[tuple[str, float], float] | None = None,
) -> tuple[int, int]:
    """(the fewest seconds over `line` of any placement, this run's) in [`start`, `end`),
    following the first `_TRACKED` of `returns`; `seconds` are the run's, in time order.
    `booked_by_return`: the kW booked by the moment of each return (`SampledSimulation`);
    without it, by the last sample before, which errs towards more (a weaker bound)."""
    tracked = list(returns[:_TRACKED])
    start_kw = [
        booked_by_return[back.substation, back.at]
        if booked_by_return is not None
        else _booked_before(seconds, back.at)
        for back in tracked
    ]
    window = [second for second in seconds if start <= second.at < end]
    at_least = _seconds_over_at_least(window, tracked, start_kw, line)
    return at_least, sum(1 for second in window if second.spread > line)


def _booked_before(seconds: Sequence[Second], at: float) -> float:
    """The kW booked by the last sample before `at`: what was booked since may all have gone
    to a substation back at `at` (the sample before errs towards more)."""
    booked_kw = 0.0
    for second in seconds:
        if second.at >= at:
            break
        booked_kw = second.booked_kw
    return booked_kw


def _seconds_over_at_least(
    seconds: Sequence[Second], tracked: list[Return], start_kw: list[float], line: float
) -> int:
    """The DP: `best[cell]` is the fewest seconds over so far of a path ending at the loads of
    `cell` (a step count per tracked substation). Loads only grow, so a cell is reached from
    any cell at or below it in every coordinate; each is bounded by the kW booked since its
    substation's return, and their sum by those booked since the first."""
    steps = [back.capacity_kw / GRID_STEPS for back in tracked]
    cells = _cells(len(tracked))
    best = {cell: (0 if not any(cell) else sys.maxsize) for cell in cells}
    for second in seconds:
        reached = _lowest_at_or_below(best, cells)
        best = {}
        for cell in cells:
            loads = [count * step for count, step in zip(cell, steps, strict=True)]
            if not _allowed(second, tracked, start_kw, loads, steps):
                best[cell] = sys.maxsize
                continue
            over = _surely_over(second, tracked, loads, steps, line)
            best[cell] = min(sys.maxsize, reached[cell] + over)
    return min(best.values())


def _cells(dimensions: int) -> list[tuple[int, ...]]:
    """Every cell in order, each after all those at or below it in every coordinate."""
    if dimensions == 1:
        return [(n,) for n in range(GRID_STEPS + 1)]
    return [(n, w) for n in range(GRID_STEPS + 1) for w in range(GRID_STEPS + 1)]


def _lowest_at_or_below(
    best: dict[tuple[int, ...], int], cells: list[tuple[int, ...]]
) -> dict[tuple[int, ...], int]:
    """For each cell, the lowest `best` among the cells at or below it in every coordinate."""
    lowest: dict[tuple[int, ...], int] = {}
    for cell in cells:
        value = best[cell]
        for axis in range(len(cell)):
            if cell[axis]:
                below = (*cell[:axis], cell[axis] - 1, *cell[axis + 1 :])
                value = min(value, lowest[below])
        lowest[cell] = value
    return lowest


def _allowed(
    second: Second,
    tracked: list[Return],
    start_kw: list[float],
    loads: list[float],
    steps: list[float],
) -> bool:
    """Nothing before its return; never more than booked since (a step of slack: the cell
    holds loads up to a step below its own)."""
    for back, since_kw, load_kw, step in zip(tracked, start_kw, loads, steps, strict=True):
        if second.at < back.at:
            if load_kw > 0:
                return False
        elif load_kw - step > second.booked_kw - since_kw:
            return False
    return sum(loads) - sum(steps) <= second.booked_kw - min(start_kw)


def _surely_over(
    second: Second, tracked: list[Return], loads: list[float], steps: list[float], line: float
) -> int:
    """1 if every load in the cell (each up to a step below its corner) leaves the spread
    over `line`: the gap at the corner less the most a step could close."""
    live = [second.at >= back.at for back in tracked]
    rest_capacity_kw = second.capacity_kw - sum(
        back.capacity_kw for back, is_live in zip(tracked, live, strict=True) if is_live
    )
    if rest_capacity_kw <= 0:
        return 0
    rest_kw = second.load_kw - sum(loads)
    shares = [rest_kw / rest_capacity_kw]
    slack = sum(steps) / rest_capacity_kw
    for back, is_live, load_kw, step in zip(tracked, live, loads, steps, strict=True):
        if is_live:
            shares.append(load_kw / back.capacity_kw)
            slack += step / back.capacity_kw
    return 1 if max(shares) - min(shares) - slack > line else 0


def bound_scenario(scenario: Scenario, policy: Policy, seed: int) -> list[Window]:
    simulation = SampledSimulation(scenario, policy, seed)
    simulation.run()
    line = scenario.one_request_utilization
    windows = []
    for start, end, returns in return_windows(scenario):
        at_least, this_run = bound_window(
            simulation.seconds, start, end, returns, line, simulation.booked_by_return
        )
        windows.append(Window(returns, start, end, at_least, this_run))
    return windows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m proxy.simulate.bound",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="headroom", choices=POLICIES)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        scenario = load_scenario(args.scenario, parse_overrides(args.set))
    except (OSError, ScenarioError) as error:
        print(f"python -m proxy.simulate.bound: {error}", file=sys.stderr)
        return 2
    windows = bound_scenario(scenario, cast(Policy, args.policy), args.seed)
    if args.json:
        print(json.dumps([_as_json(window) for window in windows], indent=2))
    if not windows and not args.json:
        print("no substation comes back from an outage in this scenario")
    for window in [] if args.json else windows:
        names = ", ".join(f"{back.substation} at {back.at:g} s" for back in window.returns)
        print(
            f"{window.start:g}-{window.end:g} s ({names}): at least {window.at_least} seconds "
            f"over one request for any placement; {args.policy} {window.this_run}"
        )
    return 0


def _as_json(window: Window) -> dict[str, object]:
    return {
        "start": window.start,
        "end": window.end,
        "returns": [{"substation": back.substation, "at": back.at} for back in window.returns],
        "at_least": window.at_least,
        "this_run": window.this_run,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
