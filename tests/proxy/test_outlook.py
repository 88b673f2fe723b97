"""The lookahead behind `headroom`'s choice among substations that can take a charge."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.balancer import Balancer
from proxy.headroom import evenness
from proxy.outlook import Outlook
from proxy.tuning import DEFAULT_TUNING
from proxy.view import SLOT_S, SubstationView, slot_of

NOW = 1_000.0
LOOKAHEAD_S = DEFAULT_TUNING.lookahead_s
FADE_S = DEFAULT_TUNING.recent_fade_s


def view(name: str, capacity_kw: float, load_kw: float) -> SubstationView:
    return SubstationView(name, name, capacity_kw=capacity_kw, load_kw=load_kw, reported_at=NOW)


def test_without_bookings_it_is_the_spread_right_after_booking() -> None:
    north, south = view("north", 400, 100), view("south", 200, 100)
    outlook = Outlook([north, south], NOW, LOOKAHEAD_S)
    assert outlook.mean_spreads_with([0], 40)[0] == pytest.approx(0.5 - 0.35)
    assert outlook.mean_spreads_with([1], 40)[0] == pytest.approx(0.7 - 0.25)


def test_no_lookahead_is_the_spread_right_after_booking_whatever_ends_soon() -> None:
    north, south = view("north", 100, 50), view("south", 100, 50)
    north.add_booking(NOW + 1.0, 20.0, NOW - 59.0, FADE_S)  # ends in a second: not counted
    outlook = Outlook([north, south], NOW, 0.0)
    assert outlook.mean_spreads_with([0, 1], 10) == pytest.approx([0.1, 0.1])


def test_a_session_ending_within_the_lookahead_counts_for_the_time_after_it() -> None:
    north, south = view("north", 100, 50), view("south", 100, 50)
    north.add_booking(NOW + 1.0, 20.0, NOW - 59.0, FADE_S)  # north drops to 0.3 one second from now
    outlook = Outlook([north, south], NOW, LOOKAHEAD_S)
    after = LOOKAHEAD_S - 1.0
    # 10 kW at north: 0.1 apart for 1 s, then 0.6 - 0.4 = 0.1 the other way.
    assert outlook.mean_spreads_with([0], 10)[0] == pytest.approx(0.1)
    # 10 kW at south: 0.1 for 1 s, then 0.6 - 0.3 = 0.3 for the rest.
    assert outlook.mean_spreads_with([1], 10)[0] == pytest.approx((0.1 + 0.3 * after) / LOOKAHEAD_S)


def test_the_part_of_a_spread_over_the_line_weighs_over_weight_times_more() -> None:
    north, south = view("north", 100, 50), view("south", 100, 50)
    north.add_booking(NOW + 1.0, 20.0, NOW - 59.0, FADE_S)  # north drops to 0.3 one second from now
    outlook = Outlook([north, south], NOW, LOOKAHEAD_S, over_line=0.2, over_weight=2.0)
    after = LOOKAHEAD_S - 1.0
    # 10 kW at north: 0.1 apart throughout, under the line.
    assert outlook.mean_spreads_with([0], 10)[0] == pytest.approx(0.1)
    # 10 kW at south: 0.1 for 1 s, then 0.3, 0.1 of it over the line and weighed 2 more.
    over = 0.3 + 2.0 * (0.3 - 0.2)
    expected = (0.1 + over * after) / LOOKAHEAD_S
    assert outlook.mean_spreads_with([1], 10)[0] == pytest.approx(expected)


def test_the_line_is_the_largest_charge_lately_or_this_one_over_the_smallest_capacity() -> None:
    """`headroom.evenness`, as the balancer calls it for a grid of a few: one request is this
    charge, or the largest booked in the last minute if larger (`one_request_kw`), over the
    smallest capacity. Here 10 kW at south leaves the grid 0.3 apart after north's end."""
    north, south = view("north", 100, 50), view("south", 200, 100)
    north.add_booking(NOW + 1.0, 20.0, NOW - 59.0, FADE_S)
    tuning = DEFAULT_TUNING
    after = LOOKAHEAD_S - 1.0

    def at_south(one_request_kw: float) -> float:  # no bunching term: nothing booked there
        keys = evenness([north, south], [50.0, 100.0], [0, 1], 10.0, NOW, tuning, one_request_kw)
        return keys[1][0]

    plain = (0.05 + 0.25 * after) / LOOKAHEAD_S  # 10 kW is 0.05 of south's 200
    # The line 10 kW over 100 (north's, the smaller): 0.15 of each later second over it.
    assert at_south(0.0) == pytest.approx(plain + tuning.over_weight * 0.15 * after / LOOKAHEAD_S)
    # 22 kW booked lately: the line is 0.22, and 0.03 over it.
    assert at_south(22.0) == pytest.approx(plain + tuning.over_weight * 0.03 * after / LOOKAHEAD_S)
    # 30 kW: the line is 0.3, and nothing is over it.
    assert at_south(30.0) == pytest.approx(plain)


@pytest.mark.parametrize(("largest_lately_kw", "chosen"), [(0.0, "south"), (40.0, "north")])
def test_the_balancer_draws_the_line_from_the_charges_booked_in_the_last_minute(
    largest_lately_kw: float, chosen: str
) -> None:
    """North (100 kW) frees 20 kW in 2 s, south (100 kW) 29 kW in 1 s; a 10-kW charge. At
    north the spread is 0, 0.29, then 0.09 (mean 0.112); at south 0.2, 0.09, then 0.11
    (mean 0.124). With no charge booked in the last minute, one request is this one, 0.1:
    north's second over it weighs 0.38 more and south's seconds 0.26, so south. With a 40-kW
    charge booked 59 s ago (and ended), the line is 0.4: nothing is over, so north."""
    balancer = Balancer(tuning=replace(DEFAULT_TUNING, recent_weight=0.0))  # no bunching term
    balancer.set_substations(["north", "south"])
    balancer.record_report("north", NOW, 20.0, 100.0)
    balancer.record_report("south", NOW, 30.0, 100.0)
    # Booked over a minute ago: not within the window the line is drawn from.
    balancer.record_booking("north", NOW + 2.0, 20.0, NOW - 61.0)
    balancer.record_booking("south", NOW + 1.0, 29.0, NOW - 61.0)
    if largest_lately_kw:
        balancer.record_booking("north", NOW - 0.5, largest_lately_kw, NOW - 59.0)
    assert balancer.choose(10, 10, attempts=1, now=NOW) == [chosen]


def test_sessions_ending_beyond_the_lookahead_change_nothing() -> None:
    north, south = view("north", 100, 50), view("south", 100, 50)
    north.add_booking(NOW + LOOKAHEAD_S + 1, 20.0, NOW - 54.0, FADE_S)
    outlook = Outlook([north, south], NOW, LOOKAHEAD_S)
    assert outlook.mean_spreads_with([0], 10)[0] == outlook.mean_spreads_with([1], 10)[0]


def test_headroom_books_where_power_is_about_to_free_among_equals() -> None:
    balancer = Balancer()
    balancer.set_substations(["north", "south"])
    for key in ("north", "south"):
        balancer.record_report(key, NOW, 50.0, 100.0)
    balancer.record_booking("south", NOW + 2.0, 30.0, NOW - 58.0)
    assert balancer.choose(10, 10, attempts=1, now=NOW) == ["south"]
    assert balancer.choose(10, 10, attempts=2, now=NOW) == ["south", "north"]
    # Without the lookahead (no `now`), the first listed of two equals.
    assert balancer.choose(10, 10, attempts=1) == ["north"]


def spread_booking_one(
    views: list[SubstationView],
    number: int,
    kw: float,
    line: float = float("inf"),
    weight: float = 0.0,
) -> float:
    """The outlook's mean spread with `kw` booked at view `number`, by brute force: every view's
    utilization recomputed from scratch at the start of every interval between two ends, and
    the part of each interval's spread over `line` counted `weight` times more."""
    first, last = slot_of(NOW), slot_of(NOW + LOOKAHEAD_S)
    steps = sorted(
        (max(NOW, slot * SLOT_S), place, ending_kw / (each.capacity_kw or 1.0))
        for place, each in enumerate(views)
        for slot, ending_kw in each.ending_kw.items()
        if first <= slot <= last
    )
    bounds = [*sorted({NOW} | {when for when, _, _ in steps}), NOW + LOOKAHEAD_S]
    total = 0.0
    for start, stop in itertools.pairwise(bounds):
        shares = []
        for place, each in enumerate(views):
            share = each.projected_utilization
            for when, stepping, freed in steps:
                if stepping == place and when <= start:
                    share = max(0.0, share - freed)
            shares.append(share + (kw / (each.capacity_kw or 1.0) if place == number else 0.0))
        spread = max(shares) - min(shares)
        total += (stop - start) * (spread + weight * max(0.0, spread - line))
    return total / LOOKAHEAD_S


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(100, 1000),
            st.floats(0, 1),
            st.lists(st.tuples(st.floats(0.01, 4.99), st.floats(1, 50)), max_size=4),
        ),
        min_size=1,
        max_size=5,
    ),
    st.floats(1, 50),
    st.floats(0, 1),
    st.floats(0, 5),
)
def test_the_spreads_for_every_candidate_at_once_are_those_of_each_alone(
    substations: list[tuple[float, float, list[tuple[float, float]]]],
    kw: float,
    line: float,
    weight: float,
) -> None:
    views = []
    for number, (capacity_kw, share, ending) in enumerate(substations):
        place = view(f"s{number}", capacity_kw, share * capacity_kw)
        for ends_in_s, ending_kw in ending:
            place.add_booking(NOW + ends_in_s, ending_kw, NOW - 55.0, FADE_S)
        views.append(place)
    outlook = Outlook(views, NOW, LOOKAHEAD_S, over_line=line, over_weight=weight)
    together = outlook.mean_spreads_with(list(range(len(views))), kw)
    for number in range(len(views)):
        assert together[number] == outlook.mean_spreads_with([number], kw)[0]
        brute_force = spread_booking_one(views, number, kw, line, weight)
        assert together[number] == pytest.approx(brute_force, abs=1e-9)
