"""Scenarios nobody wrote (`proxy.simulate.sweep`): drawn at random in the shipped format, from
a few substations of very different sizes to several proxies, bursts and rush hours, outages
that come back, and every policy run on each.

On grids that always have power to spare (`never_short`: the peak asks at most 60 % of what is
left with the biggest substation out, one substation out at a time), every policy keeps every
substation within capacity at every admission, counts each request once, and turns no driver
away while a live substation has room for the whole amount: a false reject there would be the
charge path's own fault, not the grid's. Past saturation a reject can race a session ending
elsewhere in the round trip of its last refusal, for every policy alike (docs/balance-lab.md).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from proxy.balancer import POLICIES
from proxy.simulate.engine import Simulation
from proxy.simulate.scenario import load_scenario, scenario_from
from proxy.simulate.sweep import (
    OVERLAPPING_CAPACITIES_KW,
    SPARE_SHARE,
    overlapping_scenario,
    random_scenario,
    run_scenario,
    summarize,
)


@pytest.mark.parametrize("seed", range(25))
def test_on_a_grid_never_short_every_policy_keeps_capacity_and_turns_no_driver_away(
    seed: int,
) -> None:
    scenario = scenario_from(f"sweep-{seed}", random_scenario(seed, never_short=True))
    for policy in POLICIES:
        measured = Simulation(scenario, policy, seed).run()
        assert measured.overbooked == 0, policy
        assert measured.overload_s == 0, policy
        assert all(peak <= 1 for peak in measured.peak.values()), policy
        answered = measured.accepted + measured.curtailed + measured.rejected_count
        assert answered == measured.requests, policy
        assert measured.false_reject_times == [], (policy, measured.false_reject_times)


@pytest.mark.parametrize("seed", range(25))
def test_a_grid_never_short_has_power_to_spare_at_its_peak_with_one_substation_out(
    seed: int,
) -> None:
    keys = random_scenario(seed, never_short=True)
    capacities = [spec["capacity_kw"] for spec in keys["substations"]]
    spare_kw = sum(capacities) - max(capacities)
    high_kw = keys["amount_kw"][1]
    arrivals, session_s = keys["arrivals"], keys["session_seconds"]
    if "burst" in arrivals:
        peak_kw = arrivals["burst"] * high_kw
    else:
        peak_kw = max(rate for _, rate in arrivals["rate"]) * session_s * high_kw
    assert peak_kw <= SPARE_SHARE * spare_kw + high_kw
    outages = sorted((f["at"], f["until"]) for f in keys.get("failures", []))
    assert all(until <= at for (_, until), (at, _) in itertools.pairwise(outages))


@pytest.mark.parametrize("seed", range(20))
def test_an_overlapping_draw_is_several_proxies_and_two_outages_overlapping_at_the_peak(
    seed: int,
) -> None:
    keys = overlapping_scenario(seed)
    scenario = scenario_from(f"sweep-{seed}", keys)  # a valid scenario file's keys
    assert 2 <= scenario.proxies <= 6
    capacities = [spec["capacity_kw"] for spec in keys["substations"]]
    assert 3 <= len(capacities) <= 8
    assert set(capacities) <= set(OVERLAPPING_CAPACITIES_KW)
    peak = max(rate for _, rate in keys["arrivals"]["rate"])
    peak_kw = peak * keys["session_seconds"] * sum(keys["amount_kw"]) / 2
    assert 0.6 * sum(capacities) - 1 <= peak_kw <= 1.2 * sum(capacities) + 1
    first, second = keys["failures"]
    assert first["substation"] != second["substation"]
    # Both start on the peak's plateau (400-800 s), the second while the first lasts.
    assert 400 <= first["at"] < second["at"] < first["until"] <= 700
    assert second["until"] < keys["duration_s"]


def test_on_an_overlapping_draw_every_policy_keeps_capacity_and_counts_each_request() -> None:
    run = run_scenario(0, never_short=False, overlapping=True)
    assert run["scenario"] == overlapping_scenario(0)
    for policy, measured in run["results"].items():
        assert measured["overload_s"] == 0, policy
        assert all(peak <= 1 for peak in measured["peak_utilization"].values()), policy
        answered = measured["accepted"] + measured["curtailed"] + measured["rejected"]
        assert answered == measured["requests"], policy


def _result(spread_p95: float, one_request: float, false_rejects: int = 0) -> dict[str, float]:
    return {
        "spread_p95": spread_p95,
        "one_request": one_request,
        "false_rejects": false_rejects,
        "false_rejects_unclaimed": 0,
        "overload_s": 0.0,
    }


def test_the_summary_counts_draws_within_and_gives_medians_in_requests() -> None:
    """Three draws: `headroom` at 0.5, 1.5 and 3 requests (within on one); the best baseline
    of each at 2, 4 and 6 requests; one draw with a false reject."""
    runs = []
    for headroom, best, one_request in ((0.05, 0.2, 0.1), (0.3, 0.8, 0.2), (0.15, 0.3, 0.05)):
        results = {policy: _result(best * 2, one_request) for policy in POLICIES}
        results["headroom"] = _result(headroom, one_request)
        results["random"] = _result(best, one_request)
        runs.append({"results": results})
    runs[1]["results"]["round-robin"]["false_rejects"] = 1
    assert summarize(runs) == {
        "scenarios": 3,
        "headroom_within_one_request": 1,
        "headroom_median_over_one_request": 1.5,
        "best_baseline_median_over_one_request": 4.0,
        "with_false_rejects_or_overload": 1,
        "with_unclaimed_false_rejects": 0,
    }


def test_the_same_seed_draws_the_same_scenario_and_others_differ() -> None:
    assert random_scenario(7) == random_scenario(7)
    assert len({yaml.safe_dump(random_scenario(seed)) for seed in range(20)}) == 20


def test_the_sweep_prints_a_line_a_scenario_and_keeps_them_as_scenario_files(
    tmp_path: Path,
) -> None:
    argv = [sys.executable, "-m", "proxy.simulate.sweep", "--count", "2", "--seed", "3"]
    printed = subprocess.run(
        [*argv, "--never-short", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert [line.split()[0] for line in printed[:2]] == ["sweep-3", "sweep-4"]
    summary = json.loads(printed[2])
    assert summary["scenarios"] == 2
    assert summary["with_false_rejects_or_overload"] == 0
    assert summary["with_unclaimed_false_rejects"] == 0
    kept = load_scenario(tmp_path / "sweep-3.yaml")
    assert kept == scenario_from("sweep-3", random_scenario(3, never_short=True))
