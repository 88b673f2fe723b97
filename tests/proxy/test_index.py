"""The utilization index: the lowest utilization after booking, without a scan."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.balancer import Balancer
from proxy.health import HealthEvent
from proxy.index import UtilizationIndex
from proxy.shard import Shard
from proxy.view import SubstationView


def view(key: str, capacity_kw: float, load_kw: float) -> SubstationView:
    return SubstationView(key, key, capacity_kw=capacity_kw, load_kw=load_kw)


def exact_best(views: list[SubstationView], kw: float) -> float:
    return min(
        v.utilization_with(kw)
        for v in views
        if v.capacity_kw and v.capacity_kw - v.projected_load_kw >= kw
    )


@pytest.mark.parametrize("seed", range(20))
def test_the_choice_is_within_the_class_spread_of_the_exact_best(seed: int) -> None:
    rng = random.Random(seed)
    views = [view(f"s{n}", rng.uniform(200, 800), 0.0) for n in range(300)]
    for each in views:
        each.load_kw = rng.uniform(0, (each.capacity_kw or 0) * 0.9)
    index = UtilizationIndex()
    for each in views:
        index.update(each)
    kw = rng.uniform(7, 50)
    chosen = index.best(kw)
    assert chosen is not None
    # Within a capacity class (x1.1), kw/capacity differs by at most kw/200 * (1 - 1/1.1).
    assert chosen.utilization_with(kw) <= exact_best(views, kw) + kw / 200 * (1 - 1 / 1.1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(200, 800), st.floats(0, 0.75)), min_size=1, max_size=60
    ),  # capacity kW, and load as a share of it: each has room for 50 kW (full ones: below)
    st.floats(7, 50),
    st.integers(1, 16),
    st.sets(st.integers(0, 59), max_size=5),
)
def test_the_lowest_few_are_the_lowest_after_booking_best_first(
    substations: list[tuple[float, float]], kw: float, count: int, excluded: set[int]
) -> None:
    """What rule 3's herd and rule 4's own choices read: every substation with room and not
    excluded that is left out is no lower after booking than each one taken (but for the
    classes' spread), the taken best first."""
    views = [
        view(f"s{n}", capacity, capacity * share) for n, (capacity, share) in enumerate(substations)
    ]
    index = UtilizationIndex()
    for each in views:
        index.update(each)
    exclude = {f"s{n}" for n in excluded}
    lowest = index.lowest(kw, exclude, count)
    eligible = [v for v in views if v.key not in exclude and (v.capacity_kw or 0) - v.load_kw >= kw]
    assert len(lowest) == min(count, len(eligible))
    after = [v.utilization_with(kw) for v in lowest]
    assert after == sorted(after)
    spread = kw / 200 * (1 - 1 / 1.1)  # within a class, kw/capacity differs by at most this
    for left_out in (v for v in eligible if v not in lowest):
        assert left_out.utilization_with(kw) >= max(after) - spread


def test_updates_move_a_substation_and_ones_out_of_service_leave() -> None:
    a, b = view("a", 100, 10), view("b", 100, 20)
    index = UtilizationIndex()
    index.update(a)
    index.update(b)
    assert index.best(10) is a
    a.load_kw = 50
    index.update(a)
    assert index.best(10) is b
    b.health = "down"
    index.update(b)
    assert index.best(10) is a
    assert len(index) == 1
    assert index.best(60) is None  # a has 50 kW of room


def test_excluded_and_full_substations_are_passed_over() -> None:
    views = [view("full", 100, 95), view("tried", 100, 10), view("next", 100, 30)]
    index = UtilizationIndex()
    for each in views:
        index.update(each)
    assert index.best(10, exclude={"tried"}) is views[2]


def test_anti_herding_picks_at_random_among_the_lowest_few() -> None:
    views = [view(f"s{n}", 100, n) for n in range(40)]
    index = UtilizationIndex()
    for each in views:
        index.update(each)
    rng = random.Random(1)
    picks = {index.best(5, among=4, rng=rng).key for _ in range(200)}  # type: ignore[union-attr]
    assert picks == {"s0", "s1", "s2", "s3"}


HEALTH_EVENTS: list[HealthEvent] = ["refused", "poll_ok", "timed_out"]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["begin", "end", "report", "book", "settle", "health", "sibling", "sibling_booking"]
        ),
        st.integers(0, 11),  # which substation
        st.floats(0.5, 60),  # kW, or seconds
    ),
    max_size=80,
)


@settings(max_examples=80, deadline=None)
@given(STEPS)
def test_the_index_holds_every_views_projected_load_after_any_change(
    steps: list[tuple[str, int, float]],
) -> None:
    """A choice reads the loads the index holds, not the views': they must be the same numbers
    after whatever the balancer is told (`Balancer._changed` on every change)."""
    balancer = Balancer(shard=Shard(0, 2), rng=random.Random(0), ref="ab12.0")
    keys = [f"s{n}" for n in range(12)]
    balancer.set_substations(keys)
    for key in keys:  # every one indexed from the start, so every change below is to an entry
        balancer.record_poll(key, 0.0, load_kw=100.0, capacity_kw=400.0, draining=False)
    in_flight: list[tuple[str, float]] = []
    now, seq = 1.0, 0
    for action, number, amount in steps:
        key = keys[number]
        now += 0.25
        if action == "begin":
            balancer.begin(key, amount)
            in_flight.append((key, amount))
        elif action == "end" and in_flight:
            balancer.end(*in_flight.pop(number % len(in_flight)))
        elif action == "report":
            seq += 1
            seen = {"ab12.0": int(amount * 1000), "ab12.1": int(amount * 500)}
            balancer.record_report(key, now, amount * 5, 400.0, now - 0.01, ("e1", seq), seen)
        elif action == "book":
            balancer.record_booking(key, now + amount / 10, amount, now)
        elif action == "settle":
            balancer.settle(now + amount / 10)
        elif action == "health":
            balancer.record_health(key, HEALTH_EVENTS[number % 3])
        elif action == "sibling":
            balancer.record_sibling(key, 1, "ab12.1", (amount, 2, int(amount * 800)))
        else:
            seq += 1
            balancer.record_sibling_booking(key, amount, ("e1", seq), now + 5, now)
        for index in (balancer._index, balancer.own_index()):  # what a choice reads
            assert index is not None
            for view, load_kw in index.indexed_loads():
                assert load_kw == view.projected_load_kw, (action, view.key)
