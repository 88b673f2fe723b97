"""What the simulator counts (`proxy.simulate.measure`), on real ledgers."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest
from proxy.simulate.measure import Measurements
from proxy.simulate.scenario import load_scenario
from tests.helpers import write_scenario


def test_a_reject_is_false_where_room_was_left_and_unclaimed_where_nothing_on_its_way_took_it() -> (
    None
):
    """Room for the charge is left at `b`, but a request on its way there is about to take part
    of it: a false reject by the SPEC's measure, and not an unclaimed one; without that request
    on its way, both."""
    ledgers = {name: SessionLedger(name, 100.0, 60.0) for name in ("a", "b")}
    ledgers["a"].admit(ChargeRequest("EV-1", 100.0, 100.0), 0.0)  # a is full
    ledgers["b"].admit(ChargeRequest("EV-2", 80.0, 80.0), 0.0)  # 20 kW left at b
    measured = Measurements(ledgers)
    live = list(ledgers.values())
    charge = ChargeRequest("EV-3", 15.0, 15.0)
    measured.rejected(charge, live, 1.0, {"b": 10_000})  # 10 kW on its way to b: 10 left
    measured.rejected(charge, live, 2.0, {"b": 5_000})  # 5 kW on its way: 15 left
    measured.rejected(ChargeRequest("EV-4", 25.0, 25.0), live, 3.0, {})  # more than b has
    assert measured.false_reject_times == [1.0, 2.0]
    assert measured.unclaimed_reject_times == [2.0]
    assert measured.rejected_count == 3


@pytest.mark.parametrize(
    ("spreads_over_the_rest", "within", "seconds_over"),
    [
        ([0.2], True, 1),  # 1 of 40 samples over: the 95th percentile is below it
        ([0.2, 0.2], False, 2),  # 2 of 40: the 95th percentile is one of them
        ([0.1, 0.1], True, 0),  # exactly one request is within it
    ],
)
def test_a_run_is_within_one_request_while_its_95th_percentile_spread_is(
    tmp_path: Path, spreads_over_the_rest: list[float], within: bool, seconds_over: int
) -> None:
    """One request here is 10 kW over 100 kW: 0.1. Of 40 samples, the 95th percentile is the
    39th lowest, so one sample over it is allowed and two are not."""
    substations = [{"name": "a", "capacity_kw": 100}, {"name": "b", "capacity_kw": 100}]
    scenario = load_scenario(write_scenario(tmp_path, substations=substations, amount_kw=[5, 10]))
    measured = Measurements(
        {spec.name: SessionLedger(spec.name, 100.0, 60.0) for spec in scenario.substations}
    )
    measured.spreads = [0.05] * (40 - len(spreads_over_the_rest)) + spreads_over_the_rest
    summary = measured.summary(scenario)
    assert summary["one_request"] == 0.1
    assert summary["within_one_request"] is within
    assert summary["seconds_over_one_request"] == seconds_over
