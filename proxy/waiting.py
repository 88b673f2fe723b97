"""Bounded waiting for room, like HAProxy's queue: first come, first served, until a deadline.

A charge that every substation refused may wait (`max_wait_s`) instead of failing at once.
Waiters are served strictly in arrival order: only the head of the queue tries again, at the
soonest moment power may have freed (the smallest `Retry-After` it was given) or as soon as the
proxy sees power freed (a stop passed through it, a poll showed headroom). A waiter whose
deadline passes leaves, wherever it stands, and gets its 503. New requests are never held
behind the queue: they are tried at once and only join it if they too are refused, so no
request is refused while a substation has room for it.

Pure: no asyncio, no clock (`now` is an argument). The proxy and the simulator drive it.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from grid.errors import ApiError, NoCapacity

Item = TypeVar("Item")


@dataclass(slots=True, eq=False)
class Waiter(Generic[Item]):
    ticket: int
    item: Item
    joined_at: float
    deadline: float
    retry_at: float
    trying: bool = False  # its try is in flight: not due, and its deadline waits for the answer


def may_wait(error: ApiError, max_wait_s: float) -> bool:
    """Only a charge refused everywhere for capacity waits, and only if it asked to."""
    return isinstance(error, NoCapacity) and max_wait_s > 0


@dataclass(frozen=True, slots=True)
class Turn(Generic[Item]):
    """What serving the queue does at one moment (`WaitQueue.next_turn`)."""

    late: list[Waiter[Item]]  # their deadline came: removed, each gets its 503
    head: Waiter[Item] | None  # tries again now (its try is in flight until `turn_ended`)
    wake_at: float | None  # when to serve again, if nothing happens sooner


@dataclass(slots=True)
class WaitQueue(Generic[Item]):
    _waiters: OrderedDict[int, Waiter[Item]] = field(default_factory=OrderedDict)
    _tickets: itertools.count[int] = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self._waiters)

    def join(self, item: Item, now: float, max_wait_s: float, retry_after_s: float) -> Waiter[Item]:
        deadline = now + max_wait_s
        waiter = Waiter(
            next(self._tickets), item, now, deadline, min(now + retry_after_s, deadline)
        )
        self._waiters[waiter.ticket] = waiter
        return waiter

    def head(self) -> Waiter[Item] | None:
        return next(iter(self._waiters.values()), None)

    def due(self, now: float) -> Waiter[Item] | None:
        """The head, if it is time for it to try again."""
        head = self.head()
        if head is None or head.trying or not head.retry_at <= now < head.deadline:
            return None
        return head

    def take_turn(self, waiter: Waiter[Item]) -> None:
        waiter.trying = True

    def next_turn(self, now: float) -> Turn[Item]:
        """Serve the queue at `now`: the proxy's `ChargeHold` and the simulator both call this
        whenever it is time (`wake_at`), power was freed, or a try ended."""
        late = self.timed_out(now)
        head = self.due(now)
        if head is not None:
            self.take_turn(head)
        return Turn(late, head, self.next_event_at())

    def turn_ended(
        self, waiter: Waiter[Item], now: float, refused_retry_after_s: float | None
    ) -> None:
        """The try is back: refused everywhere again (wait on, until `now + Retry-After`), or
        anything else (served, or an error that is final: it leaves)."""
        if refused_retry_after_s is None:
            self.leave(waiter)
        else:
            self.refused_again(waiter, now, refused_retry_after_s)

    def refused_again(self, waiter: Waiter[Item], now: float, retry_after_s: float) -> None:
        waiter.trying = False
        waiter.retry_at = min(now + retry_after_s, waiter.deadline)

    def leave(self, waiter: Waiter[Item]) -> None:
        self._waiters.pop(waiter.ticket, None)

    def timed_out(self, now: float) -> list[Waiter[Item]]:
        """Remove and return every waiter whose deadline has come."""
        late = [w for w in self._waiters.values() if w.deadline <= now and not w.trying]
        for waiter in late:
            del self._waiters[waiter.ticket]
        return late

    def power_freed(self, now: float) -> None:
        """Somewhere power was freed: the head tries now rather than at its Retry-After."""
        head = self.head()
        if head is not None:
            head.retry_at = min(head.retry_at, now)

    def next_event_at(self) -> float | None:
        """When the queue next needs attention: the head's retry, or the first deadline."""
        head = self.head()
        if head is None:
            return None
        deadlines = (waiter.deadline for waiter in self._waiters.values() if not waiter.trying)
        head_at = float("inf") if head.trying else head.retry_at
        soonest = min(head_at, min(deadlines, default=float("inf")))
        return None if soonest == float("inf") else soonest
