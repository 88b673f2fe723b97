"""`proxy.view`: what the sibling workers of a proxy tell counts in a substation's view once."""

from __future__ import annotations

import pytest

from proxy.view import SubstationView

LEDGER = "a1b2c3d4e5f6"


def reported(load_kw: float = 100.0, seq: int = 10) -> SubstationView:
    view = SubstationView("http://s1", "s1")
    view.take_report(0.0, 0.0, load_kw, 500.0)
    view.report_seq = (LEDGER, seq)
    return view


def test_what_siblings_have_in_flight_counts_as_load_until_they_say_it_is_answered() -> None:
    view = reported()
    view.set_sibling(1, 30.0)
    view.set_sibling(2, 11.0)
    assert view.projected_load_kw == pytest.approx(141.0)
    assert view.in_flight_kw == pytest.approx(41.0)
    view.set_sibling(1, 0.0)
    view.set_sibling(2, 0.0)
    assert view.sibling_kw == 0.0
    assert view.projected_load_kw == 100.0


def test_a_sibling_booking_counts_until_a_report_holds_its_sequence() -> None:
    view = reported(seq=10)
    view.add_sibling_booking(22.0, (LEDGER, 12), heard_at=1.0)
    assert view.projected_load_kw == pytest.approx(122.0)
    view.drop_reported_sibling_bookings((LEDGER, 11), sent_at=2.0)  # measured before it
    assert view.projected_load_kw == pytest.approx(122.0)
    view.drop_reported_sibling_bookings((LEDGER, 12), sent_at=2.0)
    assert view.sibling_booked_kw == 0.0
    assert view.projected_load_kw == pytest.approx(100.0)


def test_a_sibling_booking_the_taken_report_holds_already_is_not_counted_again() -> None:
    view = reported(seq=12)
    view.add_sibling_booking(22.0, (LEDGER, 12), heard_at=1.0)
    assert view.projected_load_kw == 100.0


def test_a_poll_sent_after_a_sibling_booking_was_heard_holds_it_and_one_sent_before_not() -> None:
    view = reported(seq=10)
    view.add_sibling_booking(22.0, (LEDGER, 12), heard_at=5.0)
    view.drop_reported_sibling_bookings(None, sent_at=4.9)
    assert view.sibling_booked_kw == pytest.approx(22.0)
    view.drop_reported_sibling_bookings(None, sent_at=5.0)
    assert view.sibling_booked_kw == 0.0


def test_a_report_of_a_restarted_ledger_ends_the_sibling_bookings_of_the_old_one() -> None:
    view = reported(seq=10)
    view.add_sibling_booking(22.0, (LEDGER, 12), heard_at=1.0)
    view.drop_reported_sibling_bookings(("ffffffffffff", 1), sent_at=2.0)
    assert view.sibling_booked_kw == 0.0


def test_what_this_worker_has_in_flight_counts_but_for_what_the_report_holds() -> None:
    """Three requests in flight here (10, 20 and 5 kW, asked in that order). A report whose
    sum of this worker's asking holds the 20 and 5 kW ones (they arrived first) leaves exactly
    the 10 kW one counted on top of its load; a restarted ledger sums from its own start."""
    view = reported(seq=10)
    view.own_ref = "ab12.0"
    view.seen, view.seen_epoch = {"ab12.0": 40_000}, LEDGER  # what it took before: 40 kW
    view.sent_w = 40_000
    for kw in (10.0, 20.0, 5.0):
        view.in_flight += 1
        view.sent_w += round(kw * 1000)
        view.pending_kw += kw
    assert view.projected_load_kw == pytest.approx(135.0)  # nothing held yet: all in flight
    view.take_report(1.0, 1.0, 125.0, 500.0)  # the 20 and 5 kW are in its load ...
    view.take_seen((LEDGER, 12), {"ab12.0": 65_000})  # ... and in its sum
    assert view.unheld_kw == pytest.approx(10.0)
    assert view.projected_load_kw == pytest.approx(135.0)
    assert view.in_flight_kw == pytest.approx(35.0)  # booked lately, held or not
    view.take_seen(("ffffffffffff", 1), {"ab12.0": 0})  # restarted while all three in flight
    assert view.unheld_kw == pytest.approx(35.0)
    view.take_seen(("ffffffffffff", 2), {"ab12.0": 35_000})
    assert view.unheld_kw == 0.0


def test_a_view_without_a_sum_for_this_worker_counts_all_it_has_in_flight() -> None:
    view = reported(seq=10)
    view.own_ref = "ab12.0"
    view.in_flight, view.sent_w, view.pending_kw = 2, 30_000, 30.0
    view.take_seen((LEDGER, 11), {"ab12.1": 30_000})  # a sibling's sum, not this worker's
    assert view.unheld_kw == 30.0
    assert view.projected_load_kw == pytest.approx(130.0)


def test_what_a_sibling_has_in_flight_counts_but_for_what_the_report_says_was_taken() -> None:
    """The sibling (named ab12.1) asked 150 kW here in all, 60 kW of it in flight. A report
    saying the substation took 120 kW of its asking holds 30 of those 60 kW (or refused
    them): 30 still count; one saying it took all 150 holds them all."""
    view = reported(seq=10)
    view.set_sibling(1, 60.0, requests=4, sent_w=150_000, ref="ab12.1")
    assert view.sibling_kw == pytest.approx(60.0)  # no sum from a report yet: all of it
    view.take_seen((LEDGER, 11), {"ab12.1": 120_000, "ab12.0": 3_000})
    assert view.sibling_kw == pytest.approx(30.0)
    view.take_seen((LEDGER, 12), {"ab12.1": 110_000})  # an older sum never takes one back
    assert view.sibling_kw == pytest.approx(30.0)
    view.take_seen((LEDGER, 13), {"ab12.1": 150_000})
    assert view.sibling_kw == 0.0
    assert view.projected_load_kw == 100.0
    # Held by the report or not, it was asked for lately: the bunching term counts it all.
    assert view.in_flight_kw == pytest.approx(60.0)
    view.take_seen(("ffffffffffff", 1), {"ab12.1": 1_000})  # restarted: its sums begin again
    assert view.sibling_kw == pytest.approx(60.0)


def test_settle_says_whether_an_end_changed_the_load() -> None:
    """The balancer settles a view once for each of its bookings' ends (`Balancer.settle`),
    and must update its index only when an end came off the load."""
    view = SubstationView("http://s1", "s1")
    view.take_report(sent_at=0.0, at=0.0, load_kw=30.0, capacity_kw=100.0)
    for ends_at in (5.0, 6.0, 20.0):
        view.add_booking(ends_at, 10.0, booked_at=0.0, fade_s=10.0)
    assert view.settle(7.0) is True  # both ends due come off
    assert view.projected_load_kw == 10.0
    assert view.settle(7.0) is False  # the second end's turn: nothing left to take off
    assert view.settle(21.0) is True and view.projected_load_kw == 0.0
