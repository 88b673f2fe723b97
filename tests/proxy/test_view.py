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


def test_what_a_sibling_has_in_flight_counts_but_for_what_the_report_says_was_taken() -> None:
    """The sibling (named ab12.1) sent 10 requests here, 4 of them in flight (60 kW). A report
    saying the substation took 8 of its requests holds 2 of those 4 (or refused them): 2 still
    count, at the mean kW; one saying it took all 10 holds them all."""
    view = reported(seq=10)
    view.set_sibling(1, 60.0, requests=4, sent=10, ref="ab12.1")
    assert view.sibling_kw == pytest.approx(60.0)  # no count from a report yet: all of it
    view.take_seen((LEDGER, 11), {"ab12.1": 8, "ab12.0": 3})
    assert view.sibling_kw == pytest.approx(30.0)
    view.take_seen((LEDGER, 12), {"ab12.1": 7})  # an older count never takes one back
    assert view.sibling_kw == pytest.approx(30.0)
    view.take_seen((LEDGER, 13), {"ab12.1": 10})
    assert view.sibling_kw == 0.0
    assert view.projected_load_kw == 100.0
    # Held by the report or not, it was asked for lately: the bunching term counts it all.
    assert view.in_flight_kw == pytest.approx(60.0)
    view.take_seen(("ffffffffffff", 1), {"ab12.1": 1})  # restarted: its counts begin again
    assert view.sibling_kw == pytest.approx(60.0)
