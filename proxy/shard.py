"""Which substations a proxy prefers when several proxies share the grid (`--shard I/N`).

Proxies that share a view (replicas, or the workers of `--workers`) see each other's bookings
a round trip late, through the substations' load streams. An exact choice then sends the
charges of the same few milliseconds from every proxy to the same emptiest substation. With a
shard, each proxy owns the substations whose key hashes to its number (every substation has
exactly one owner) and chooses the emptiest of its own, so the proxies' exact choices never
collide; `proxy.headroom` says when it chooses elsewhere.

Pure: the key's CRC-32, no clock, no I/O.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shard:
    number: int  # 0 .. count - 1
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.number < self.count:
            raise ValueError(f"a shard is I/N with 0 <= I < N, got {self.number}/{self.count}")

    def owns(self, key: str) -> bool:
        return zlib.crc32(key.encode()) % self.count == self.number

    def worker(self, number: int, workers: int) -> Shard:
        """Worker `number` of this proxy's `workers`: its part of this shard (the workers'
        shards split it: a key a worker owns is this shard's, and has one worker)."""
        return Shard(self.number + self.count * number, self.count * workers)

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`"2/8"`: the third of eight proxies."""
    number, slash, count = text.partition("/")
    if not slash or not number.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"a shard is I/N, e.g. 2/8, got {text!r}")
    return Shard(int(number), int(count))


def worker_shard(shard: Shard | None, number: int, workers: int) -> Shard | None:
    """The shard of worker `number` of `workers`: its own when it has siblings."""
    if workers == 1:
        return shard
    return (shard or Shard(0, 1)).worker(number, workers)
