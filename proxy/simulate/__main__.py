"""`python -m proxy.simulate SCENARIO.yaml [--policy P]... [--json] [--plot PNG] [--seed N]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import cast

from proxy.balancer import POLICIES, Policy
from proxy.simulate.engine import Simulation
from proxy.simulate.measure import Measurements
from proxy.simulate.report import format_table, plot
from proxy.simulate.scenario import ScenarioError, load_scenario


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
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
    except (OSError, ScenarioError) as error:
        print(f"python -m proxy.simulate: {error}", file=sys.stderr)
        return 2
    policies = cast(list[Policy], args.policy or list(POLICIES))
    runs: dict[str, Measurements] = {
        policy: Simulation(scenario, policy, args.seed).run() for policy in policies
    }
    results = {policy: measured.summary(scenario) for policy, measured in runs.items()}
    if args.json:
        print(json.dumps({"scenario": scenario.name, "results": results}, indent=2))
    else:
        print(format_table(scenario.name, results, scenario.one_request_utilization))
    if args.plot:
        plot(args.plot, scenario.name, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
