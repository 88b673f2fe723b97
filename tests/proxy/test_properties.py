"""Properties of the balancer and the simulator over generated inputs (hypothesis)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.balancer import POLICIES, Balancer, Policy
from proxy.health import HealthEvent
from proxy.simulate.engine import simulate
from proxy.simulate.scenario import Failure, Scenario, SubstationSpec
from proxy.view import slot_of

EVENTS: list[HealthEvent] = ["poll_ok", "poll_failed", "refused", "timed_out"]


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    count=st.integers(1, 20),
    steps=st.lists(
        st.tuples(st.integers(0, 19), st.sampled_from(EVENTS), st.floats(1, 50)), max_size=60
    ),
)
def test_no_policy_chooses_a_substation_that_is_not_serving(
    policy: Policy, count: int, steps: list[tuple[int, HealthEvent, float]]
) -> None:
    balancer = Balancer(policy=policy, rng=random.Random(0))
    balancer.set_substations(f"s{n}" for n in range(count))
    for number, event, amount_kw in steps:
        balancer.record_health(f"s{number % count}", event)
        for key in balancer.choose(amount_kw, amount_kw, attempts=3):
            assert balancer.view(key).serving


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0.1, 350)), max_size=80))
def test_pending_kw_returns_to_zero_when_every_request_finished(
    requests: list[tuple[int, float]],
) -> None:
    balancer = Balancer()
    balancer.set_substations(f"s{n}" for n in range(5))
    for number, kw in requests:
        balancer.begin(f"s{number}", kw)
    for number, kw in reversed(requests):
        balancer.end(f"s{number}", kw)
    assert all((v.in_flight, v.pending_kw) == (0, 0.0) for v in balancer.views())


scenarios = st.builds(
    Scenario,
    name=st.just("generated"),
    substations=st.lists(st.floats(50, 800), min_size=1, max_size=6).map(
        lambda capacities: tuple(
            SubstationSpec(f"s{n}", round(capacity, 1)) for n, capacity in enumerate(capacities)
        )
    ),
    session_seconds=st.floats(5, 90),
    poll_interval_s=st.floats(0.5, 10),
    proxies=st.integers(1, 4),
    duration_s=st.just(150.0),
    burst=st.integers(0, 150),
    rate=st.lists(st.tuples(st.floats(0, 150), st.floats(0, 4)), max_size=4).map(
        lambda points: tuple(sorted(points))
    ),
    amount_kw=st.tuples(st.floats(1, 20), st.floats(20, 60)),
    min_amount_ratio=st.floats(0.2, 1.0),
    failures=st.lists(st.tuples(st.floats(0, 100), st.floats(1, 60)), max_size=1).map(
        lambda spans: tuple(Failure("s0", at, at + length) for at, length in spans)
    ),
    latency_s=st.floats(0, 0.2),
    max_wait_s=st.sampled_from([0.0, 30.0]),
)


@settings(max_examples=25, deadline=None)
@given(scenario=scenarios, policy=st.sampled_from(POLICIES), seed=st.integers(0, 1000))
def test_no_policy_ever_books_over_capacity(scenario: Scenario, policy: Policy, seed: int) -> None:
    result = simulate(scenario, policy, seed)
    assert result["overload_s"] == 0
    assert all(peak <= 1 + 1e-9 for peak in result["peak_utilization"].values())
    assert result["accepted"] + result["curtailed"] + result["rejected"] <= result["requests"]


@settings(max_examples=200, deadline=None)
@given(
    substations=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from([0.0, 50.0, 100.0, 300.0])),  # capacity
            st.sampled_from([0.0, 11.0, 22.0, 50.0, 100.0, 290.0]),  # reported load
            st.integers(0, 3),  # requests in flight, 11 kW each
            st.sampled_from([None, 0.5, 3.0, 20.0]),  # a booked 11 kW session ends this later
        ),
        min_size=1,
        max_size=8,
    ),
    amount_kw=st.sampled_from([7.4, 11.0, 22.0, 50.0]),
    curtail_to=st.sampled_from([1.0, 0.5, 0.1]),
)
def test_one_pick_is_the_head_of_the_full_ranking(
    substations: list[tuple[float | None, float, int, float | None]],
    amount_kw: float,
    curtail_to: float,
) -> None:
    """The charge path's one-pass pick (no sort) agrees with the ranking retries use."""
    balancer = Balancer(rng=random.Random(0))
    balancer.set_substations(f"s{n}" for n in range(len(substations)))
    for n, (capacity_kw, load_kw, in_flight, ends_in_s) in enumerate(substations):
        if capacity_kw is not None:
            balancer.record_report(f"s{n}", 1.0, load_kw, capacity_kw)
        if ends_in_s is not None:
            balancer.record_booking(f"s{n}", 2.0 + ends_in_s, 11.0, 1.0)
        for _ in range(in_flight):
            balancer.begin(f"s{n}", 11.0)
    min_amount_kw = amount_kw * curtail_to
    ranked = balancer.choose(amount_kw, min_amount_kw, attempts=len(substations), now=2.0)
    assert balancer.choose(amount_kw, min_amount_kw, attempts=1, now=2.0) == ranked[:1]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["book", "settle", "report"]),
            st.floats(0, 10),  # when, from now on, or how long the booked session lasts
            st.floats(1, 50),  # kW
        ),
        max_size=60,
    )
)
def test_the_kw_ending_by_slot_is_always_the_sum_of_the_bookings_left(
    steps: list[tuple[str, float, float]],
) -> None:
    balancer = Balancer()
    balancer.set_substations(["s0"])
    view, now = balancer.view("s0"), 0.0
    for action, seconds, kw in steps:
        if action == "book":
            # In order, as sessions end.
            balancer.record_booking("s0", now + 60 + seconds, kw, now + seconds)
        elif action == "settle":
            now += seconds
            view.settle(now + 60)
        else:
            balancer.record_report("s0", now + 60, 100.0, 1000.0)
        by_slot: dict[int, float] = {}
        for ends_at, booked_kw in view.bookings:
            by_slot[slot_of(ends_at)] = by_slot.get(slot_of(ends_at), 0.0) + booked_kw
        assert view.ending_kw.keys() == by_slot.keys()
        assert view.ending_slots == sorted(by_slot)
        for slot, booked_kw in by_slot.items():
            assert view.ending_kw[slot] == pytest.approx(booked_kw)
