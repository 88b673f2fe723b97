"""`python -m proxy.simulate SCENARIO.yaml [--policy P]... [--json] [--plot PNG] [--seed N]
[--set KEY=VALUE]...`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import yaml

from proxy.balancer import POLICIES, Policy
from proxy.simulate.engine import Simulation
from proxy.simulate.measure import Trace
from proxy.simulate.report import format_table, plot
from proxy.simulate.scenario import Scenario, ScenarioError, load_scenario


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m proxy.simulate",
        description="Run the real balancer and session ledger through a scenario in virtual time.",
    )
    parser.add_argument("scenario", type=Path)
    parser.add_argument(
        "--policy", action="append", choices=POLICIES, help="repeatable; default: all"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    parser.add_argument("--plot", type=Path, help="PNG of utilization over time per policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="repeatable: a scenario key replaced, the value in YAML (e.g. proxies=1)",
    )
    return parser.parse_args(argv)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise ScenarioError(f"--set wants KEY=VALUE, got {pair!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ScenarioError(f"--set {key}: not YAML: {error}") from error
    return overrides


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        scenario = load_scenario(args.scenario, parse_overrides(args.set))
    except (OSError, ScenarioError) as error:
        print(f"python -m proxy.simulate: {error}", file=sys.stderr)
        return 2
    policies = cast(list[Policy], args.policy or list(POLICIES))
    # Policies are independent runs: one process each, as many at once as there are cores.
    with ProcessPoolExecutor(max_workers=min(len(policies), os.cpu_count() or 1)) as pool:
        done = pool.map(run_policy, repeat(scenario), policies, repeat(args.seed))
        runs = dict(zip(policies, done, strict=True))
    results = {policy: summary for policy, (summary, _) in runs.items()}
    if args.json:
        print(json.dumps({"scenario": scenario.name, "results": results}, indent=2))
    else:
        print(format_table(scenario.name, results, scenario.one_request_utilization))
    if args.plot:
        plot(args.plot, scenario.name, {policy: trace for policy, (_, trace) in runs.items()})
    return 0


def run_policy(scenario: Scenario, policy: Policy, seed: int) -> tuple[dict[str, Any], Trace]:
    measured = Simulation(scenario, policy, seed).run()
    return measured.summary(scenario), measured.trace()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
