"""`python -m proxy.simulate SCENARIO.yaml --seeds 0-7`: one scenario over many seeds, judged as
the balance issue judges it (one seed is an anecdote: on substation-failure.yaml the same policy
is within one request on one seed and over it on the next).

A run is within one request when its `spread_p95` is at most one request (the largest charge over
the smallest capacity). Over 1,201 one-second samples, that is at most 60 seconds over it: each
run also counts its `seconds_over_one_request` (`proxy.simulate.measure`), the figure a change
moves second by second; over the seeds, their mean and its standard error say how far a mean
of these seeds can be trusted (on substation-failure.yaml a run's seconds over one request vary
by about 12 from seed to seed). This module only reads the runs' summaries: seeds in, a table
and the totals out, no simulation of its own.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MOST_SEEDS = 1_000  # a bound on one command's work, far above any use in docs/
_LABEL = 14  # the first column: a seed, or what the totals rows hold


class SeedsError(ValueError):
    """`--seeds` not a range (`0-7`) or a list (`0,3,5`) of seeds."""


def parse_seeds(text: str) -> list[int]:
    """`0-7` (both ends in), `0,3,5`, or both (`0-3,8`): the seeds in the order given, once
    each."""
    seeds: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise SeedsError(f"--seeds wants seeds as 0-7 or 0,3,5, got {text!r}") from None
        if low < 0 or high < low:
            raise SeedsError(f"--seeds wants a range from low to high, got {part.strip()!r}")
        if len(seeds) + high - low + 1 > MOST_SEEDS:  # before counting them out
            raise SeedsError(f"--seeds: at most {MOST_SEEDS:,} seeds in one command")
        seeds.extend(seed for seed in range(low, high + 1) if seed not in seeds)
    return seeds


@dataclass(frozen=True, slots=True)
class PolicyOverSeeds:
    """One policy's runs of a scenario, a summary per seed, and what they add up to."""

    policy: str
    by_seed: Mapping[int, Mapping[str, Any]]

    @property
    def seeds_over(self) -> list[int]:
        return [seed for seed, run in self.by_seed.items() if not run["within_one_request"]]

    @property
    def spreads(self) -> list[float]:
        return [float(run["spread_p95"]) for run in self.by_seed.values()]

    @property
    def seconds_over(self) -> list[int]:
        return [int(run["seconds_over_one_request"]) for run in self.by_seed.values()]

    def totals(self) -> dict[str, Any]:
        """What `--json` reports beside the runs, and the table's last rows. The standard error
        of the seconds' mean is None for one seed."""
        spreads, seeds_over, seconds = self.spreads, self.seeds_over, self.seconds_over
        standard_error = (
            round(statistics.stdev(seconds) / len(seconds) ** 0.5, 1) if len(seconds) > 1 else None
        )
        return {
            "seeds": len(spreads),
            "within_one_request": len(spreads) - len(seeds_over),
            "seeds_over": seeds_over,
            "spread_p95_mean": round(statistics.fmean(spreads), 4),
            "spread_p95_worst": max(spreads),
            "seconds_over_mean": round(statistics.fmean(seconds), 1),
            "seconds_over_standard_error": standard_error,
            "false_rejects": sum(int(run["false_rejects"]) for run in self.by_seed.values()),
            "overload_s": sum(int(run["overload_s"]) for run in self.by_seed.values()),
        }


def format_seeds_table(
    scenario_name: str, one_request: float, policies: Sequence[PolicyOverSeeds]
) -> str:
    """A row per seed (spread_p95, and the seconds over one request in brackets, per policy),
    then the totals of each policy."""
    width = max(18, *(len(over_seeds.policy) + 2 for over_seeds in policies))
    rows = [
        f"scenario {scenario_name} (one request = {one_request:.3f} of a capacity):"
        " spread_p95 (seconds over one request), * where over it",
        f"{'seed':<{_LABEL}}" + "".join(f"{over_seeds.policy:>{width}}" for over_seeds in policies),
    ]
    for seed in policies[0].by_seed:
        cells = []
        for over_seeds in policies:
            run = over_seeds.by_seed[seed]
            mark = " " if run["within_one_request"] else "*"
            cells.append(f"{run['spread_p95']:.4f} ({run['seconds_over_one_request']}){mark}")
        rows.append(f"{seed:<{_LABEL}}" + "".join(f"{cell:>{width}}" for cell in cells))
    totals = [over_seeds.totals() for over_seeds in policies]
    for label, cells in (
        ("within", [f"{t['within_one_request']} of {t['seeds']}" for t in totals]),
        ("mean", [f"{t['spread_p95_mean']:.4f}" for t in totals]),
        ("worst", [f"{t['spread_p95_worst']:.4f}" for t in totals]),
        ("seconds over", [_mean_and_error(t) for t in totals]),
        ("false rejects", [str(t["false_rejects"]) for t in totals]),
        ("overload s", [str(t["overload_s"]) for t in totals]),
    ):
        # A space where the seeds' rows put their marks.
        rows.append(f"{label:<{_LABEL}}" + "".join(f"{cell + ' ':>{width}}" for cell in cells))
    return "\n".join(rows)


def _mean_and_error(totals: Mapping[str, Any]) -> str:
    """The seconds over one request, their mean over the seeds and its standard error."""
    error = totals["seconds_over_standard_error"]
    mean = f"{totals['seconds_over_mean']:.1f}"
    return mean if error is None else f"{mean} ± {error:.1f}"


@dataclass(frozen=True, slots=True)
class Versus:
    """One policy on the same seeds twice: as the scenario is given, and with the keys of
    `--versus` replaced. With one demand a seed (`proxy.simulate.demand`) both meet the same
    drivers, so the difference seed by seed is the change's: a small change moves most seeds
    little or not at all (docs/balance-lab.md, "One demand a seed")."""

    given: PolicyOverSeeds
    versus: PolicyOverSeeds

    def totals(self) -> dict[str, Any]:
        """The seconds over one request a run, given and versus, their difference (versus less
        given) with its standard error, and the seeds on which versus has fewer or more."""
        given, versus = self.given.by_seed, self.versus.by_seed
        differences = [
            int(versus[seed]["seconds_over_one_request"])
            - int(given[seed]["seconds_over_one_request"])
            for seed in given
        ]
        standard_error = (
            round(statistics.stdev(differences) / len(differences) ** 0.5, 1)
            if len(differences) > 1
            else None
        )
        return {
            "seconds_over_mean": round(statistics.fmean(self.given.seconds_over), 1),
            "versus_seconds_over_mean": round(statistics.fmean(self.versus.seconds_over), 1),
            "difference_mean": round(statistics.fmean(differences), 1),
            "difference_standard_error": standard_error,
            "fewer": sum(1 for difference in differences if difference < 0),
            "more": sum(1 for difference in differences if difference > 0),
            "same": sum(1 for difference in differences if difference == 0),
            "seeds_over": len(self.given.seeds_over),
            "versus_seeds_over": len(self.versus.seeds_over),
        }


def format_versus(keys: Sequence[str], pairs: Sequence[Versus]) -> str:
    """A line per policy: its seconds over one request given and versus, seed by seed."""
    rows = ["versus " + " ".join(keys) + ": seconds over one request a run, seed by seed"]
    for pair in pairs:
        t = pair.totals()
        error = t["difference_standard_error"]
        difference = f"{t['difference_mean']:+.1f}" + ("" if error is None else f" ± {error:.1f}")
        rows.append(
            f"{pair.given.policy:<{_LABEL}}{t['seconds_over_mean']:.1f} -> "
            f"{t['versus_seconds_over_mean']:.1f}, {difference} "
            f"(fewer on {t['fewer']}, more on {t['more']}, the same on {t['same']}); "
            f"seeds over {t['seeds_over']} -> {t['versus_seeds_over']}"
        )
    return "\n".join(rows)
