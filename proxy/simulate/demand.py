"""What a scenario's drivers ask for, drawn from the seed alone.

Every arrival's time and charge come from one stream of their own, drawn before the run
starts, so every policy and every tuning meets, on one seed, the same drivers asking for the
same kW at the same moments: two runs of a seed differ first by what their balancers chose.
(Before stop 46, 2026-12-06, each charge's kW was drawn as it arrived, from the stream that the
network's delays and the polls' jitter drew from too, so two policies met the same arrival
times but different amounts: docs/balance-lab.md, "One demand a seed".)
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from grid.protocol import ChargeRequest
from proxy.simulate.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Arrival:
    at_s: float
    request: ChargeRequest


def draw_demand(
    scenario: Scenario, seed: int, burst: Sequence[ChargeRequest] | None = None
) -> list[Arrival]:
    """The burst at 0 s (`burst`: the requests a real run sent, else `scenario.burst` drawn),
    then the arrivals of the scenario's rate: vehicle `EV-n` is the n-th arrival (a replayed
    burst's keep their names)."""
    rng = random.Random(f"demand-{seed}")
    if burst is None:
        burst = [_charge(rng, scenario, number) for number in range(scenario.burst)]
    arrivals = [Arrival(0.0, request) for request in burst]
    for at_s in _arrival_times(rng, scenario):
        arrivals.append(Arrival(at_s, _charge(rng, scenario, len(arrivals))))
    return arrivals


def _arrival_times(rng: random.Random, scenario: Scenario) -> Iterator[float]:
    """A Poisson process at the peak rate, each arrival kept with probability rate(t)/peak
    (thinning). The caller draws each kept arrival's charge before the next time."""
    peak, t = scenario.peak_rate, 0.0
    while peak > 0:
        t += rng.expovariate(peak)
        if t > scenario.duration_s:
            return
        if rng.random() * peak < scenario.rate_at(t):
            yield t


def _charge(rng: random.Random, scenario: Scenario, number: int) -> ChargeRequest:
    low, high = scenario.amount_kw
    amount_kw = round(rng.uniform(low, high), 1)
    minimum_kw = round(amount_kw * scenario.min_amount_ratio, 3)
    return ChargeRequest(f"EV-{number}", amount_kw, minimum_kw)
