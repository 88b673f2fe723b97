"""What the simulator counts (`proxy.simulate.measure`), on real ledgers."""

from __future__ import annotations

from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest
from proxy.simulate.measure import Measurements


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
