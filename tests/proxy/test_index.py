"""The utilization index: the lowest utilization after booking, without a scan."""

from __future__ import annotations

import random

import pytest

from proxy.index import UtilizationIndex
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
