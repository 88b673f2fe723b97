from __future__ import annotations

from pathlib import Path

import pytest

from grid.ledger import Session
from proxy.balancer import Policy
from proxy.simulate.demand import draw_demand
from proxy.simulate.engine import Simulation
from proxy.simulate.scenario import Scenario, load_scenario

FAILURE = Path("scenarios/substation-failure.yaml")


def test_a_seed_draws_one_demand_and_another_seed_another() -> None:
    scenario = load_scenario(FAILURE)
    assert draw_demand(scenario, 3) == draw_demand(scenario, 3)
    assert draw_demand(scenario, 3) != draw_demand(scenario, 4)


def test_arrivals_follow_the_rate_in_order_each_vehicle_named_by_its_turn() -> None:
    scenario = load_scenario(FAILURE)
    demand = draw_demand(scenario, 0)
    times = [arrival.at_s for arrival in demand]
    assert times == sorted(times) and times[0] > 0 and times[-1] <= scenario.duration_s
    assert [a.request.vehicle_id for a in demand] == [f"EV-{n}" for n in range(len(demand))]
    # The rate's integral: 0.2 to 1.2 EVs a second over 400 s, 1.2 for 400 s, back to 0.2.
    expected = 2 * 400 * (0.2 + 1.2) / 2 + 400 * 1.2
    assert abs(len(demand) - expected) < 4 * expected**0.5
    peak = [t for t in times if 400 <= t < 800]
    assert abs(len(peak) - 480) < 4 * 480**0.5
    for arrival in demand:
        low, high = scenario.amount_kw
        assert low <= arrival.request.amount_kw <= high
        assert arrival.request.min_amount_kw == round(arrival.request.amount_kw * 0.5, 3)


def test_a_burst_comes_first_and_a_replayed_one_replaces_the_drawn_one() -> None:
    scenario = load_scenario(Path("scenarios/seed-burst.yaml"))
    drawn = draw_demand(scenario, 0)
    assert len(drawn) == 100 and {arrival.at_s for arrival in drawn} == {0.0}
    replayed = draw_demand(scenario, 0, [drawn[5].request, drawn[2].request])
    assert [arrival.request for arrival in replayed] == [drawn[5].request, drawn[2].request]


def _asked_kw(scenario: Scenario, policy: Policy) -> dict[str, float]:
    """What each vehicle booked asked for, in a run of seed 2."""
    simulation = Simulation(scenario, policy, 2)
    asked: dict[str, float] = {}
    admitted = simulation.measure.admitted

    def record(session: Session) -> None:
        asked[session.vehicle_id] = session.requested_kw
        admitted(session)

    simulation.measure.admitted = record  # type: ignore[method-assign]
    simulation.run()
    return asked


@pytest.mark.parametrize("policy", ["round-robin", "least-loaded"])
def test_every_policy_and_tuning_meets_the_same_drivers_asking_the_same(policy: Policy) -> None:
    """Before stop 46 (2026-12-06) each charge's kW was drawn when it arrived, from the stream
    the network's delays drew from too: past the first retry or poll that went otherwise, two
    policies met different drivers. Now two runs differ first by what their balancers chose."""
    scenario = load_scenario(FAILURE)
    demand = {a.request.vehicle_id: a.request.amount_kw for a in draw_demand(scenario, 2)}
    headroom = _asked_kw(scenario, "headroom")
    other = _asked_kw(scenario, policy)
    tuned = _asked_kw(load_scenario(FAILURE, {"headroom": {"recent_weight": 0}}), "headroom")
    assert min(len(headroom), len(other), len(tuned)) > 700
    for booked in (headroom, other, tuned):
        assert all(demand[vehicle] == kw for vehicle, kw in booked.items())
    both = headroom.keys() & other.keys()
    assert len(both) > 700 and all(headroom[vehicle] == other[vehicle] for vehicle in both)
