"""Sampled futures (`proxy.rollout`): hand-worked plays, the draws, and the balancer's choice
with them on, where the 5-second outlook cannot see what decides it."""

from __future__ import annotations

import random
import statistics

import pytest

from proxy.balancer import Balancer
from proxy.rollout import (
    Grid,
    GridLately,
    Race,
    RecentCharges,
    draw_arrivals,
    rollout_costs,
    seconds_over,
    timeline,
)
from proxy.tuning import HeadroomTuning

T0 = 1_800_000_000.0
LINE = 0.1  # one request: 10 kW of a 100-kW substation


def test_recent_charges_give_the_rate_sizes_and_session_of_their_window() -> None:
    recent = RecentCharges(window_s=20.0)
    assert recent.lately(0.0) is None
    recent.add(11.0, booked_at=1.0, ends_at=61.0)
    recent.add(22.0, booked_at=5.0, ends_at=45.0)
    lately = recent.lately(20.0)
    assert lately == GridLately(per_s=2 / 20.0, sizes_kw=(11.0, 22.0), session_s=50.0)
    assert recent.lately(21.0) == GridLately(1 / 20.0, (22.0,), 40.0)  # 1.0 is 20 s before
    assert recent.lately(25.0) is None


def test_arrivals_are_drawn_at_the_rate_and_of_the_sizes_booked_lately() -> None:
    lately = GridLately(per_s=1.2, sizes_kw=(7.0, 22.0), session_s=60.0)
    streams = draw_arrivals(lately, horizon_s=75.0, draws=400, rng=random.Random(5))
    counts = [len(stream) for stream in streams]
    # Poisson: 90 a stream on average, a standard deviation of 9.5, so 0.47 for the mean of 400.
    assert 88.0 < statistics.mean(counts) < 92.0
    assert 7.0 < statistics.stdev(counts) < 12.0
    for stream in streams:
        times = [when for when, _ in stream]
        assert times == sorted(times) and all(0.0 <= when < 75.0 for when in times)
        assert {kw for _, kw in stream} <= {7.0, 22.0}
    sizes = [kw for stream in streams for _, kw in stream]
    assert 0.45 < sizes.count(22.0) / len(sizes) < 0.55


def test_a_timeline_merges_ends_and_arrivals_in_order_an_end_first_on_a_tie() -> None:
    moments = timeline([(1.0, 0, 5.0), (3.0, 1, 6.0)], [(0.5, 7.0), (3.0, 8.0), (4.0, 9.0)])
    assert moments.times == [0.5, 1.0, 3.0, 3.0, 4.0]
    assert moments.places == [-1, 0, 1, -1, -1]
    assert moments.kws == [7.0, 5.0, 6.0, 8.0, 9.0]


# Two substations of 100 kW, at 40 and 50 kW; 15 kW of the second ends 10 s from now. A charge
# of 10 kW: at the first, the grid is even now (50 and 50) and 15 kW apart from 10 s on; at
# the second, 20 kW apart now (40 and 60) and 5 kW apart from 10 s on.
ENDING_AT_10 = Grid([100.0, 100.0], [40.0, 50.0], [(10.0, 1, 15.0)])


def test_a_play_without_arrivals_counts_the_seconds_over_one_request_and_the_mean_spread() -> None:
    nothing = timeline(ENDING_AT_10.ends, [])
    first = seconds_over(ENDING_AT_10, 0, 10.0, LINE, 60.0, nothing, 20.0)
    # 1-9 s: 0 apart; from 10 s (the end comes before the sample at its time): 0.15, over.
    assert first == pytest.approx(11 + (11 * 0.15) / 20)
    second = seconds_over(ENDING_AT_10, 1, 10.0, LINE, 60.0, nothing, 20.0)
    assert second == pytest.approx(9 + (9 * 0.2 + 11 * 0.05) / 20)


def test_a_play_ends_the_charge_after_its_session_and_places_arrivals_greedily() -> None:
    grid = Grid([100.0, 100.0], [40.0, 60.0], [])
    # The charge at the first ends at 4 s; a 20-kW arrival at 6.5 s goes where it leaves the
    # lower utilization: the first again (0.6 against 0.8).
    arrivals = timeline([], [(6.5, 20.0)])
    cost = seconds_over(grid, 0, 10.0, 0.15, 4.0, arrivals, 10.0)
    # 1-3 s: 0.6 - 0.5 = 0.1; 4-6 s: 0.6 - 0.4 = 0.2, over 0.15; 7-10 s: even.
    assert cost == pytest.approx(3 + (3 * 0.1 + 3 * 0.2) / 10)
    # With the arrival gone to the second (were it greedy the other way): 0.4 apart, over.
    assert cost < 7


def test_every_place_plays_the_same_draws() -> None:
    lately = GridLately(per_s=0.5, sizes_kw=(10.0,), session_s=60.0)
    costs = rollout_costs(ENDING_AT_10, [0, 1], 10.0, LINE, lately, 30.0, 24, random.Random(9))
    again = rollout_costs(ENDING_AT_10, [1, 0], 10.0, LINE, lately, 30.0, 24, random.Random(9))
    assert costs == again[::-1]
    # By hand, draw by draw, on the same streams.
    streams = draw_arrivals(lately, 30.0, 24, random.Random(9))
    for place, cost in zip([0, 1], costs, strict=True):
        plays = [
            seconds_over(
                ENDING_AT_10, place, 10.0, LINE, 60.0, timeline(ENDING_AT_10.ends, s), 30.0
            )
            for s in streams
        ]
        assert cost == pytest.approx(statistics.mean(plays))


def _grid_ending_soon(tuning: HeadroomTuning, heard_lately: bool = True) -> Balancer:
    """Two substations of 100 kW at 40 and 50 kW; of the 50, 15 kW (a session this proxy
    booked) end 10 s after the choice at T0 + 1: beyond the outlook's 5 s. Heard lately: a
    5-kW session booked at the first 0.8 s before, which its report holds."""
    balancer = Balancer(policy="headroom", rng=random.Random(1), tuning=tuning)
    balancer.set_substations(["a", "b"])
    balancer.record_booking("b", T0 + 11.0, 15.0, T0 - 49.0)
    if heard_lately:
        balancer.record_booking("a", T0 + 60.2, 5.0, T0 + 0.2)
    balancer.record_poll("a", T0 + 0.5, load_kw=40.0, capacity_kw=100.0, draining=False)
    balancer.record_poll("b", T0 + 0.5, load_kw=50.0, capacity_kw=100.0, draining=False)
    return balancer


def test_sampled_futures_see_past_the_outlook_and_off_by_default_change_nothing() -> None:
    shipped = _grid_ending_soon(HeadroomTuning())
    assert shipped.choose(10.0, 10.0, attempts=1, now=T0 + 1.0) == ["a"]  # even now
    rolled = _grid_ending_soon(HeadroomTuning(rollout_draws=16))
    # The one booking heard lately makes 0.05 arrivals a second of 5 kW: few. At the first,
    # 15 kW apart from 10 s on; at the second, 5 kW apart then.
    assert rolled.choose(10.0, 10.0, attempts=1, now=T0 + 1.0) == ["b"]
    assert rolled.choose(10.0, 10.0, attempts=2, now=T0 + 1.0) == ["b", "a"]


def test_without_bookings_lately_or_with_an_unknown_capacity_there_is_no_rollout() -> None:
    tuning = HeadroomTuning(rollout_draws=16)
    # Nothing booked in the 20 s before: nothing to draw futures from, the outlook decides.
    balancer = _grid_ending_soon(tuning, heard_lately=False)
    assert balancer.choose(10.0, 10.0, attempts=1, now=T0 + 1.0) == ["a"]
    balancer = _grid_ending_soon(tuning)
    balancer.set_substations(["a", "b", "c"])  # c not reported on yet: no capacity
    assert balancer.choose(10.0, 10.0, attempts=1, now=T0 + 1.0) == ["a"]


def test_only_the_places_within_the_band_of_the_lowest_key_are_played() -> None:
    # The outlook's key at the first is 0.02 (even now, 5 kW booked there lately), at the
    # second 0.3 (0.2 apart, the part over one request, the 15 kW of the minute, weighed twice
    # more): a band of 0.2 plays the first alone, no choice to make, and the outlook decides.
    narrow = _grid_ending_soon(HeadroomTuning(rollout_draws=16, rollout_band=0.2))
    assert narrow.choose(10.0, 10.0, attempts=1, now=T0 + 1.0) == ["a"]
    wide = _grid_ending_soon(HeadroomTuning(rollout_draws=16, rollout_band=0.3))
    assert wide.choose(10.0, 10.0, attempts=1, now=T0 + 1.0) == ["b"]


def test_a_race_drops_a_place_clearly_worse_and_keeps_one_within_the_noise() -> None:
    race = Race(batch=4, z=2.0, offsets=[0.0, 0.0, 0.0])
    best = [10.0, 12.0, 11.0, 13.0]
    worse = [20.0, 21.0, 23.0, 22.0]  # 10 more on every draw: clearly worse
    close = [12.0, 11.0, 13.0, 12.0]  # 0.5 more on average, differences -1 to +2: not clearly
    assert race.still_playing([best, worse, close], [0, 1, 2]) == [0, 2]
    # What the key adds counts: 1 more for the first puts it behind the third, but not clearly.
    assert Race(4, 2.0, [1.0, 0.0, 0.0]).still_playing([best, worse, close], [0, 1, 2]) == [2, 0]
    # One place left is no race: none plays on.
    assert race.still_playing([best, worse], [0, 1]) == []


def test_a_raced_rollout_plays_the_same_draws_and_stops_when_the_race_is_won() -> None:
    lately = GridLately(per_s=0.5, sizes_kw=(10.0,), session_s=60.0)
    full = rollout_costs(ENDING_AT_10, [0, 1], 10.0, LINE, lately, 30.0, 24, random.Random(9))
    # One batch of all the draws: the same streams, the same costs.
    race = Race(batch=24, z=2.0, offsets=[0.0, 0.0])
    raced = rollout_costs(
        ENDING_AT_10, [0, 1], 10.0, LINE, lately, 30.0, 24, random.Random(9), race
    )
    assert raced == full
    # Arrivals so rare that none comes: every play of a place is the same, so after the first
    # batch of 4 the first place (21 seconds over) is clearly behind the second (9), and the
    # race is over: 4 streams drawn, not 24.
    rare = GridLately(per_s=1e-9, sizes_kw=(10.0,), session_s=60.0)
    rng = random.Random(9)
    race = Race(batch=4, z=2.0, offsets=[0.0, 0.0])
    costs = rollout_costs(ENDING_AT_10, [0, 1], 10.0, LINE, rare, 30.0, 24, rng, race)
    nothing = timeline(ENDING_AT_10.ends, [])
    assert costs == [
        pytest.approx(seconds_over(ENDING_AT_10, place, 10.0, LINE, 60.0, nothing, 30.0))
        for place in (0, 1)
    ]
    assert costs[0] > 21 and 9 < costs[1] < 10
    drawn_four = random.Random(9)
    draw_arrivals(rare, 30.0, 4, drawn_four)
    assert rng.getstate() == drawn_four.getstate()
