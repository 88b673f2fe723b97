"""The largest charge booked lately (`proxy.largest`), against the plain maximum it replaces."""

from __future__ import annotations

import random

from proxy.largest import LargestLately


def test_nothing_booked_is_zero_and_a_booking_counts_for_its_window_only() -> None:
    largest = LargestLately(window_s=10.0)
    assert largest.largest(0.0) == 0.0
    largest.add(22.0, 1.0)
    largest.add(7.0, 5.0)
    assert largest.largest(10.9) == 22.0
    assert largest.largest(11.0) == 7.0  # 22 kW was booked 10 s before: out of the window
    assert largest.largest(15.0) == 0.0


def test_it_is_the_maximum_of_the_window_at_every_time() -> None:
    rng = random.Random(3)
    largest = LargestLately(window_s=2.5)
    booked: list[tuple[float, float]] = []
    now = 0.0
    for _ in range(2_000):  # times only go forward, as the proxy's clock and the simulator's
        now += rng.expovariate(4.0)
        kw = float(rng.choice([7, 11, 22, 50, 150])) if rng.random() < 0.9 else rng.uniform(1, 9)
        largest.add(kw, now)
        booked.append((now, kw))
        now += rng.expovariate(4.0)
        window = [kw for at, kw in booked if at > now - 2.5]
        assert largest.largest(now) == max(window, default=0.0)
