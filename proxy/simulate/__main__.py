"""`python -m proxy.simulate SCENARIO.yaml [--policy P]... [--json] [--plot PNG] [--seed N |
--seeds 0-7 [--versus KEY=VALUE]...] [--set KEY=VALUE]...`."""

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
from proxy.simulate.engine import Simulation, simulate
from proxy.simulate.measure import Trace
from proxy.simulate.report import format_table, plot
from proxy.simulate.scenario import Scenario, ScenarioError, load_scenario
from proxy.simulate.seeds import (
    PolicyOverSeeds,
    SeedsError,
    Versus,
    format_seeds_table,
    format_versus,
    parse_seeds,
)


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
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0)
    seeds.add_argument(
        "--seeds",
        type=_seeds,
        help="every seed of 0-7 (or 0,3,5): a row per seed, then how many are within one request",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="repeatable: a scenario key replaced, the value in YAML (e.g. proxies=1)",
    )
    parser.add_argument(
        "--versus",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="repeatable, with --seeds: run every seed again with these keys replaced too, "
        "and compare the two seed by seed (e.g. 'headroom={recent_weight: 0.5}')",
    )
    return parser.parse_args(argv)


def _seeds(text: str) -> list[int]:
    try:
        return parse_seeds(text)
    except SeedsError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


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
    if args.versus and args.seeds is None:
        print("python -m proxy.simulate: --versus compares over --seeds", file=sys.stderr)
        return 2
    if args.seeds is not None:
        if args.plot:
            print("python -m proxy.simulate: --plot draws one seed, not --seeds", file=sys.stderr)
            return 2
        versus = None
        if args.versus:
            try:
                versus = load_scenario(args.scenario, parse_overrides([*args.set, *args.versus]))
            except ScenarioError as error:
                print(f"python -m proxy.simulate: --versus: {error}", file=sys.stderr)
                return 2
        return _over_seeds(scenario, policies, args.seeds, versus, args)
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


def _over_seeds(
    scenario: Scenario,
    policies: list[Policy],
    seeds: list[int],
    versus: Scenario | None,
    args: argparse.Namespace,
) -> int:
    """Every policy on every seed, and again with `--versus`'s keys, reported."""
    given, *other = _run_over_seeds(
        [scenario] if versus is None else [scenario, versus], policies, seeds
    )
    pairs = [Versus(*both) for both in zip(given, *other, strict=True)] if other else []
    if args.json:
        report: dict[str, Any] = {
            "scenario": scenario.name,
            "seeds": seeds,
            "results": _as_json(given),
        }
        if pairs:
            report["versus"] = {
                "set": args.versus,
                "results": _as_json(other[0]),
                "against_given": {pair.given.policy: pair.totals() for pair in pairs},
            }
        print(json.dumps(report, indent=2))
    else:
        print(format_seeds_table(scenario.name, scenario.one_request_utilization, given))
        if pairs:
            print("\n" + format_versus(args.versus, pairs))
    return 0


def _run_over_seeds(
    scenarios: list[Scenario], policies: list[Policy], seeds: list[int]
) -> list[list[PolicyOverSeeds]]:
    """Each scenario's runs, a `PolicyOverSeeds` per policy; as many at once as there are
    cores."""
    runs = [
        (number, policy, seed)
        for number in range(len(scenarios))
        for policy in policies
        for seed in seeds
    ]
    with ProcessPoolExecutor(max_workers=min(len(runs), os.cpu_count() or 1)) as pool:
        done = pool.map(
            simulate,
            [scenarios[number] for number, _, _ in runs],
            [policy for _, policy, _ in runs],
            [seed for _, _, seed in runs],
        )
        by_run = dict(zip(runs, done, strict=True))
    return [
        [
            PolicyOverSeeds(policy, {seed: by_run[number, policy, seed] for seed in seeds})
            for policy in policies
        ]
        for number in range(len(scenarios))
    ]


def _as_json(over_seeds: list[PolicyOverSeeds]) -> dict[str, Any]:
    return {
        each.policy: {
            **each.totals(),
            "by_seed": {str(seed): run for seed, run in each.by_seed.items()},
        }
        for each in over_seeds
    }


def run_policy(scenario: Scenario, policy: Policy, seed: int) -> tuple[dict[str, Any], Trace]:
    measured = Simulation(scenario, policy, seed).run()
    return measured.summary(scenario), measured.trace()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
