"""The poll schedule and what a poll teaches, in plain time (the pure part of the poller)."""

from __future__ import annotations

import itertools
import random

from proxy.balancer import Balancer
from proxy.polling import (
    MetricsReading,
    PollFailed,
    PollRefused,
    PollSchedule,
    ReconnectBackoff,
    keys_to_poll,
    take_poll,
)


def test_rounds_come_every_interval_jittered_and_substations_taken_out_every_second() -> None:
    schedule = PollSchedule(5.0, 1.0, random.Random(1), now=0.0)
    now, kinds = 0.0, []
    while now < 20:
        now = schedule.wake_at(now)
        kinds.append((round(now, 2), schedule.due(now)))
    rounds = [at for at, kind in kinds if kind == "round"]
    assert len(rounds) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise([0.0, *rounds])]
    assert all(4.0 <= gap <= 6.0 for gap in gaps)
    between = [at for at, kind in kinds if kind == "out_of_service"]
    assert len(between) >= 12  # about one a second between rounds
    times = [at for at, _ in kinds]
    assert all(later - earlier <= 1.0 + 1e-9 for earlier, later in itertools.pairwise(times))


def test_between_rounds_only_substations_taken_out_are_polled() -> None:
    balancer = Balancer()
    balancer.set_substations(["a", "b", "c"])
    take_poll(balancer, "b", PollRefused(), 0.0, 0.0)
    assert keys_to_poll(balancer, "round") == ["a", "b", "c"]
    assert keys_to_poll(balancer, "out_of_service") == ["b"]


def test_a_poll_reading_is_taken_and_failures_move_health() -> None:
    balancer = Balancer()
    balancer.set_substations(["a", "b"])
    take_poll(balancer, "a", MetricsReading("north", 120.0, 400.0, True), 9.0, 10.0)
    view = balancer.view("a")
    assert (view.name, view.load_kw, view.capacity_kw, view.draining) == ("north", 120, 400, True)
    take_poll(balancer, "b", PollFailed(), 9.0, 10.0)
    assert balancer.view("b").health == "suspect"
    take_poll(balancer, "b", PollFailed(), 14.0, 15.0)
    assert balancer.view("b").health == "down"


def test_a_poll_is_taken_by_its_sequence_as_an_answer_is() -> None:
    """A poll read before an answer the proxy has taken, but arriving after it, is older: taken,
    it would lose the bookings between them (and, its sums of watts being older too, count
    some requests in flight twice)."""
    balancer = Balancer(ref="p.0")
    balancer.set_substations(["a"])
    balancer.record_report("a", 10.0, 100.0, 400.0, 9.9, ("e", 7), {"p.0": 100_000})
    older = MetricsReading("north", 60.0, 400.0, False, ("e", 5), {"p.0": 60_000})
    take_poll(balancer, "a", older, 9.8, 10.1)
    view = balancer.view("a")
    assert (view.load_kw, view.report_seq, view.seen) == (100, ("e", 7), {"p.0": 100_000})
    newer = MetricsReading("north", 120.0, 400.0, False, ("e", 8), {"p.0": 120_000})
    take_poll(balancer, "a", newer, 10.2, 10.3)
    assert (view.load_kw, view.report_seq, view.seen) == (120, ("e", 8), {"p.0": 120_000})
    # A substation that sends no report with its metrics: its load is taken as the newest.
    take_poll(balancer, "a", MetricsReading("north", 90.0, 400.0, False), 10.4, 10.5)
    assert (view.load_kw, view.report_seq) == (90, None)


def test_reconnects_back_off_doubling_and_jittered_up_to_a_bound() -> None:
    backoff = ReconnectBackoff(random.Random(3), first_s=0.05, most_s=2.0)
    delays = [backoff.next_delay() for _ in range(8)]
    bounds = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert all(bound / 2 <= delay <= bound for delay, bound in zip(delays, bounds, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 0.05


def test_a_streaming_substation_is_not_polled() -> None:
    balancer = Balancer()
    balancer.set_substations(["a", "b"])
    balancer.view("a").streaming = True
    assert keys_to_poll(balancer, "round") == ["b"]
