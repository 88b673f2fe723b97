"""One charge per vehicle at a time: the line behind a vehicle's charge in flight."""

from __future__ import annotations

from proxy.vehicle_line import VehicleLine


def test_later_charges_of_a_vehicle_wait_in_order_and_others_go_at_once() -> None:
    line: VehicleLine[str] = VehicleLine()
    assert not line.busy("EV-1")
    line.start("EV-1")
    assert line.busy("EV-1") and not line.busy("EV-2")
    line.wait("EV-1", "second")
    line.wait("EV-1", "third")
    assert line.finish("EV-1") == "second"
    assert line.finish("EV-1") == "third"
    assert line.finish("EV-1") is None
    assert not line.busy("EV-1")
    assert len(line) == 0


def test_a_charge_that_gives_up_waiting_leaves_the_line() -> None:
    line: VehicleLine[str] = VehicleLine()
    line.start("EV-1")
    line.wait("EV-1", "second")
    line.wait("EV-1", "third")
    line.withdraw("EV-1", "second")
    assert line.finish("EV-1") == "third"
