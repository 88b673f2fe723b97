"""Which substations a proxy prefers when several proxies share the grid (`--shard I/N`).

Proxies that share a view (replicas, or the workers of `--workers`) see each other's bookings
a round trip late, through the substations' load streams. An exact choice then sends the
charges of the same few milliseconds from every proxy to the same emptiest substation. With a
shard, each proxy owns a part of the substations (every substation has exactly one owner) and
chooses the emptiest of its own, so the proxies' exact choices never collide; `proxy.headroom`
says when it chooses elsewhere.

The parts are cut by capacity, not by count: each proxy takes about an Nth of the arrivals,
so a part with less than an Nth of the capacity runs fuller than the rest. A hash of each key
left one of eight parts of `scenarios/city-scale.yaml` with 0.923 of an eighth of the
capacity, and it held the grid's most utilized substation in 36 of the 40 worst seconds
(docs/balance-lab.md). Every proxy that knows the same capacities cuts the same parts; a
substation whose capacity a proxy does not know yet is in none of its parts until it does.

Pure: capacities in, owners out; no clock, no I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Shard:
    number: int  # 0 .. count - 1
    count: int
    # A worker of `--workers`: its part of this proxy's part, cut the same way.
    worker: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.number < self.count:
            raise ValueError(f"a shard is I/N with 0 <= I < N, got {self.number}/{self.count}")
        if self.workers < 1 or not 0 <= self.worker < self.workers:
            raise ValueError(f"a shard's worker is 0 .. {self.workers - 1}, got {self.worker}")

    def owned(self, capacities_kw: Mapping[str, float]) -> frozenset[str]:
        """The substations this shard owns, of those whose capacities are known: this proxy's
        part of them all, then this worker's part of that."""
        parts = balanced_parts(capacities_kw, self.count)
        mine = {key: kw for key, kw in capacities_kw.items() if parts[key] == self.number}
        if self.workers == 1:
            return frozenset(mine)
        parts = balanced_parts(mine, self.workers)
        return frozenset(key for key in mine if parts[key] == self.worker)

    def worker_of(self, number: int, workers: int) -> Shard:
        """Worker `number` of this proxy's `workers`: its part of this shard."""
        return replace(self, worker=number, workers=workers)

    def __str__(self) -> str:
        proxy = f"{self.number}/{self.count}"
        return proxy if self.workers == 1 else f"{proxy} worker {self.worker}/{self.workers}"


def balanced_parts(capacities_kw: Mapping[str, float], count: int) -> dict[str, int]:
    """Each substation's part of `count`, the parts' capacities as even as the greedy rule
    makes them: the largest first (ties by key), each to the part with the least capacity so
    far (ties by the lower number). The same capacities give the same parts, on every proxy."""
    parts = [(0.0, number) for number in range(count)]  # a heap: (capacity so far, part)
    owner: dict[str, int] = {}
    for key in sorted(capacities_kw, key=lambda key: (-capacities_kw[key], key)):
        total_kw, number = parts[0]
        owner[key] = number
        heapq.heapreplace(parts, (total_kw + capacities_kw[key], number))
    return owner


def parse_shard(text: str) -> Shard:
    """`"2/8"`: the third of eight proxies."""
    number, slash, count = text.partition("/")
    if not slash or not number.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"a shard is I/N, e.g. 2/8, got {text!r}")
    return Shard(int(number), int(count))


def worker_shard(shard: Shard | None, number: int, workers: int, told: bool = True) -> Shard | None:
    """The shard of worker `number` of `workers`. Workers that tell each other their bookings
    (`proxy.siblings`, at once, before every choice) share their proxy's part: each is
    refilled by all the proxy's arrivals, not by its share of them. Workers blind to each
    other would herd on it, so each takes its own part of it."""
    if workers == 1:
        return shard
    if told:
        return shard or Shard(0, 1)
    return (shard or Shard(0, 1)).worker_of(number, workers)
