"""One scenario over many seeds (`proxy.simulate.seeds`, and `--seeds` on the command line)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from proxy.simulate.seeds import (
    PolicyOverSeeds,
    SeedsError,
    Versus,
    format_seeds_table,
    format_versus,
    parse_seeds,
)


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0-7", [0, 1, 2, 3, 4, 5, 6, 7]),
        ("0,3,5", [0, 3, 5]),
        ("0-2,8", [0, 1, 2, 8]),
        ("4", [4]),
        (" 5 , 1-2 ", [5, 1, 2]),
        ("2,1-3", [2, 1, 3]),  # each seed once, in the order first given
    ],
)
def test_seeds_are_a_range_or_a_list(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    "text", ["", "a", "1-", "-1", "3-1", "0-7,x", "0-1000", "0-999,5", "0-10000000000", "1.5"]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(SeedsError, match="--seeds"):
        parse_seeds(text)


def _run(spread_p95: float, seconds_over: int, false_rejects: int = 0) -> dict[str, Any]:
    return {
        "spread_p95": spread_p95,
        "within_one_request": seconds_over <= 60,
        "seconds_over_one_request": seconds_over,
        "false_rejects": false_rejects,
        "overload_s": 0,
    }


def test_the_totals_say_which_seeds_are_over_one_request_and_add_up_the_rest() -> None:
    runs = {0: _run(0.0884, 62), 1: _run(0.0861, 54, false_rejects=1), 6: _run(0.0923, 68)}
    totals = PolicyOverSeeds("headroom", runs).totals()
    assert totals == {
        "seeds": 3,
        "within_one_request": 1,
        "seeds_over": [0, 6],
        "spread_p95_mean": round((0.0884 + 0.0861 + 0.0923) / 3, 4),
        "spread_p95_worst": 0.0923,
        "seconds_over_mean": round((62 + 54 + 68) / 3, 1),
        "seconds_over_standard_error": 4.1,  # 7.02 over the square root of 3
        "false_rejects": 1,
        "overload_s": 0,
    }


def test_the_table_has_a_row_per_seed_marks_the_ones_over_and_sums_up_each_policy() -> None:
    headroom = PolicyOverSeeds("headroom", {0: _run(0.0884, 62), 1: _run(0.0861, 54)})
    random = PolicyOverSeeds("random", {0: _run(0.5798, 993), 1: _run(0.6198, 943)})
    lines = format_seeds_table("substation-failure", 0.088, [headroom, random]).splitlines()
    assert "one request = 0.088" in lines[0]
    assert lines[1].split() == ["seed", "headroom", "random"]
    assert lines[2].split() == ["0", "0.0884", "(62)*", "0.5798", "(993)*"]
    assert lines[3].split() == ["1", "0.0861", "(54)", "0.6198", "(943)*"]
    assert lines[4].split() == ["within", "1", "of", "2", "0", "of", "2"]
    assert lines[7].split() == ["seconds", "over", "58.0", "±", "4.0", "968.0", "±", "25.0"]
    assert lines[-1].split() == ["overload", "s", "0", "0"]
    assert len({len(line) for line in lines[1:]}) == 1  # the columns line up


def test_the_command_runs_each_seed_as_one_seed_would() -> None:
    """`--seeds 0-2` gives each seed's run exactly as `--seed N` does, and the totals of them."""
    command = [sys.executable, "-m", "proxy.simulate", "scenarios/seed-burst.yaml", "--json"]
    command += ["--policy", "headroom"]
    over_seeds = json.loads(
        subprocess.run(
            [*command, "--seeds", "0-2"], capture_output=True, check=True, timeout=120
        ).stdout
    )
    assert over_seeds["seeds"] == [0, 1, 2]
    headroom = over_seeds["results"]["headroom"]
    for seed in (0, 1, 2):
        alone = subprocess.run(
            [*command, "--seed", str(seed)], capture_output=True, check=True, timeout=60
        )
        assert headroom["by_seed"][str(seed)] == json.loads(alone.stdout)["results"]["headroom"]
    spreads = [headroom["by_seed"][seed]["spread_p95"] for seed in ("0", "1", "2")]
    assert headroom["spread_p95_worst"] == max(spreads)
    seconds = [headroom["by_seed"][seed]["seconds_over_one_request"] for seed in ("0", "1", "2")]
    assert headroom["seconds_over_mean"] == round(sum(seconds) / 3, 1)
    assert headroom["seeds_over"] == [
        seed for seed in (0, 1, 2) if spreads[seed] > headroom["by_seed"]["0"]["one_request"]
    ]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--seeds", "0-1", "--seed", "2"], "--seed"),
        (["--seeds", "3-1"], "--seeds"),
        (["--seeds", "0-1", "--plot", "x.png"], "--seeds"),
        (["--seed", "1", "--versus", "proxies=2"], "--versus compares over --seeds"),
        (["--seeds", "0-1", "--versus", "proxies=-1"], "--versus: "),
    ],
)
def test_the_command_refuses_seeds_it_cannot_run(flags: list[str], said: str) -> None:
    command = [sys.executable, "-m", "proxy.simulate", "scenarios/seed-burst.yaml", *flags]
    refused = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert said in refused.stderr


def test_versus_pairs_each_seed_with_itself_and_counts_the_difference() -> None:
    given = PolicyOverSeeds(
        "headroom",
        {0: _run(0.0884, 62), 1: _run(0.0861, 54), 2: _run(0.08, 40), 3: _run(0.083, 50)},
    )
    versus = PolicyOverSeeds(
        "headroom",
        {0: _run(0.0850, 50), 1: _run(0.0870, 58), 2: _run(0.08, 40), 3: _run(0.081, 45)},
    )
    totals = Versus(given, versus).totals()
    assert totals == {
        "seconds_over_mean": 51.5,
        "versus_seconds_over_mean": 48.2,
        "difference_mean": round((-12 + 4 + 0 - 5) / 4, 1),
        "difference_standard_error": 3.4,  # the differences' standard deviation 6.90 over √4
        "fewer": 2,
        "more": 1,
        "same": 1,
        "seeds_over": 1,
        "versus_seeds_over": 0,
    }
    lines = format_versus(["headroom={recent_weight: 0.5}"], [Versus(given, versus)]).splitlines()
    assert lines[0].startswith("versus headroom={recent_weight: 0.5}:")
    assert lines[1].split()[:7] == ["headroom", "51.5", "->", "48.2,", "-3.2", "±", "3.4"]


def test_the_command_compares_each_seed_with_its_run_versus_other_keys() -> None:
    """`--versus` runs each seed again exactly as `--set` with those keys would, and pairs the
    two seed by seed; a policy the keys do not touch is the same on every seed."""
    command = [sys.executable, "-m", "proxy.simulate", "scenarios/substation-failure.yaml"]
    command += ["--json", "--policy", "headroom", "--policy", "round-robin", "--seeds", "0-2"]
    keys = "headroom={recent_weight: 0}"
    compared = json.loads(
        subprocess.run(
            [*command, "--versus", keys], capture_output=True, check=True, timeout=120
        ).stdout
    )
    alone = json.loads(
        subprocess.run(
            [*command, "--set", keys], capture_output=True, check=True, timeout=120
        ).stdout
    )
    assert compared["versus"]["set"] == [keys]
    assert compared["versus"]["results"] == alone["results"]
    headroom = compared["versus"]["against_given"]["headroom"]
    runs = compared["results"]["headroom"]["by_seed"]
    versus_runs = alone["results"]["headroom"]["by_seed"]
    differences = [
        versus_runs[seed]["seconds_over_one_request"] - runs[seed]["seconds_over_one_request"]
        for seed in ("0", "1", "2")
    ]
    assert headroom["difference_mean"] == round(sum(differences) / 3, 1)
    assert headroom["same"] < 3  # without the bunching term the refill goes otherwise
    assert compared["versus"]["against_given"]["round-robin"]["same"] == 3
