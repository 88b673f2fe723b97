"""When to poll which substation, and what a poll teaches: the pure part of the poller.

A round polls every substation every `interval_s`, jittered (80-120 %) so that several proxies,
or a proxy restarted with its substations, never align. Between rounds, the substations taken
out are polled every `down_interval_s` (HAProxy's `downinter`), so one that comes back is in
service again within seconds, not rounds. The proxy's `Poller` drives this on the loop's
monotonic clock; the simulator in virtual time. No I/O, no clock: `now` is an argument.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from proxy.balancer import Balancer
from proxy.health import SERVING

JITTER = 0.2

PollKind = Literal["round", "out_of_service"]


@dataclass(frozen=True, slots=True)
class MetricsReading:
    """What a substation's `/metrics` says, and the sequence and sums of watts seen (`seq`,
    `seen`) of the load report its answer carries, as every answer of a substation does."""

    name: str | None
    load_kw: float
    capacity_kw: float
    draining: bool
    seq: tuple[str, int] | None = None
    seen: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class PollRefused:
    """The connection was refused: the substation is out at once, as when forwarding."""


@dataclass(frozen=True, slots=True)
class PollFailed:
    """A timeout, a broken connection, or metrics that could not be read."""


PollResult = MetricsReading | PollRefused | PollFailed


class PollSchedule:
    def __init__(
        self, interval_s: float, down_interval_s: float, rng: random.Random, now: float
    ) -> None:
        """The first round is the caller's, at `now` (a proxy starts knowing every capacity)."""
        self._interval_s = interval_s
        self._down_interval_s = down_interval_s
        self._rng = rng
        self._next_round_at = now + self._jittered_interval()

    def wake_at(self, now: float) -> float:
        """When to call `due` next."""
        return min(self._next_round_at, now + self._down_interval_s)

    def due(self, now: float) -> PollKind:
        """A full round if its time has come, else the substations taken out."""
        if now >= self._next_round_at:
            self._next_round_at = now + self._jittered_interval()
            return "round"
        return "out_of_service"

    def _jittered_interval(self) -> float:
        return self._interval_s * self._rng.uniform(1 - JITTER, 1 + JITTER)


def keys_to_poll(balancer: Balancer, kind: PollKind) -> list[str]:
    """Every substation for a round; only those out of service (down, or back for one good
    check so far) between rounds. Never one whose load stream is open: it reports itself."""
    views = [view for view in balancer.views() if not view.streaming]
    if kind == "round":
        return [view.key for view in views]
    return [view.key for view in views if view.health not in SERVING]


class ReconnectBackoff:
    """How long to wait before reconnecting a load stream: doubling from `first_s` to
    `most_s`, each wait jittered (50-100 %) so that proxies do not reconnect in step."""

    def __init__(self, rng: random.Random, first_s: float = 0.05, most_s: float = 2.0) -> None:
        self._rng = rng
        self._first_s = first_s
        self._most_s = most_s
        self._next_s = first_s

    def reset(self) -> None:
        self._next_s = self._first_s

    def next_delay(self) -> float:
        delay = self._next_s * self._rng.uniform(0.5, 1.0)
        self._next_s = min(self._most_s, self._next_s * 2)
        return delay


def wakes_waiters(kind: PollKind, keys: list[str]) -> bool:
    """After a round, or a poll of substations taken out, charges waiting for room try again
    on what it found (`WaitQueue.power_freed`)."""
    return kind == "round" or bool(keys)


def take_poll(balancer: Balancer, key: str, result: PollResult, sent_at: float, now: float) -> None:
    """Tell the balancer what polling substation `key` found; the reading was taken between
    `sent_at` and `now`."""
    if isinstance(result, PollRefused):
        balancer.record_health(key, "refused")
    elif isinstance(result, PollFailed):
        balancer.record_health(key, "poll_failed")
    else:
        balancer.record_poll(
            key,
            now,
            load_kw=result.load_kw,
            capacity_kw=result.capacity_kw,
            draining=result.draining,
            name=result.name,
            sent_at=sent_at,
            seq=result.seq,
            seen=result.seen,
        )
