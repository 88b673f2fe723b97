"""The workers of one proxy (`--workers N`) tell each other what they book, through memory.

Workers share the port and the kernel splits a burst's connections between them within the
same milliseconds. The load stream tells each worker of the other's bookings a round trip
late (`docs/balance-lab.md`: the seed burst through two blind workers ends up to two requests
apart), and workers of one machine need not wait for the network: each tells its siblings, at
once, what it has in flight to a substation, what it booked there lately (the bunching term of
`proxy.headroom`), and each session it booked with the sequence of the substation's report
that first holds it. A sibling counts that session until one of its own reports reaches the
sequence (`SubstationView.add_sibling_booking`): counted once, never twice.

Reports are not passed on. A report a sibling got holds the bookings of this worker that the
substation took but whose answers this worker has not read yet (busy sending a burst), which it
still counts as in flight: taking it would count them twice, and in a burst the worker would
steer away from the very substations it had just filled.

`SiblingBoard` is made by the parent before the workers start: one ring of records per worker
in shared memory, each with its lock (the lock is the memory barrier, on any CPU). A worker
writes only its own ring and reads the others'. A record holds the kW in flight as an absolute
value, so a record missed is healed by the next one about the same substation; a reader lapped
by a writer forgets all that writer told.

`Siblings` is the charge path's side: `tell(key, booked)` after this worker's view of `key`
changed, `hear(now)` before a choice. What a record means for the view is the balancer's
(`Balancer.record_sibling`, `Balancer.record_sibling_booking`): no I/O there.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.context import SpawnContext
from typing import Any

from proxy.balancer import Balancer

# key hash, kW in flight and when the newest was sent, kW booked lately and as of when, a
# session booked: its kW (0: none), the sequence of the report that holds it and the ledger id
# (the sequence's epoch, ASCII, at most 32 bytes).
RECORD = struct.Struct("<Qdddddq32s")
HEAD = struct.Struct("<Q")  # records written so far, at the ring's start
RING_RECORDS = 16_384  # 1.3 MiB a worker; at 10,000 records a second, 1.6 s of history


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class SiblingRecord:
    key_hash: int
    pending_kw: float
    last_sent_at: float
    recent_kw: float
    recent_at: float
    booked: tuple[float, tuple[str, int]] | None = None  # (kW, seq) of a session booked


class SiblingBoard:
    """One ring per worker; made before the workers start and handed to each (picklable
    while spawning)."""

    def __init__(self, context: SpawnContext, workers: int, records: int = RING_RECORDS) -> None:
        self.records = records
        size = HEAD.size + RECORD.size * records
        self.rings: list[Any] = [context.RawArray("B", size) for _ in range(workers)]
        self.locks: list[Any] = [context.Lock() for _ in range(workers)]

    @property
    def workers(self) -> int:
        return len(self.rings)


class SiblingLink:
    """Worker `number`'s end of the board: it writes its ring and reads the others'."""

    def __init__(self, board: SiblingBoard, number: int) -> None:
        self.number = number
        self._records = board.records
        self._rings = [memoryview(ring).cast("B") for ring in board.rings]
        self._locks = board.locks
        self._read_upto = [self._head(worker) for worker in range(board.workers)]

    def _head(self, worker: int) -> int:
        return int(HEAD.unpack_from(self._rings[worker], 0)[0])

    def publish(self, record: SiblingRecord) -> None:
        ring = self._rings[self.number]
        booked_kw, (epoch, number) = record.booked or (0.0, ("", 0))
        with self._locks[self.number]:
            head = self._head(self.number)
            offset = HEAD.size + RECORD.size * (head % self._records)
            RECORD.pack_into(
                ring, offset, record.key_hash, record.pending_kw, record.last_sent_at,
                record.recent_kw, record.recent_at, booked_kw, number, epoch.encode("ascii"),
            )  # fmt: skip
            HEAD.pack_into(ring, 0, head + 1)

    def read(self) -> Iterator[tuple[int, SiblingRecord | None]]:
        """(worker, record) for what each sibling wrote since the last read; (worker, None)
        when a sibling wrote more than its ring holds since (what it told is lost)."""
        for worker in range(len(self._rings)):
            if worker == self.number:
                continue
            ring, start = self._rings[worker], self._read_upto[worker]
            with self._locks[worker]:
                head = self._head(worker)
                if head == start:
                    continue
                lapped = head - start > self._records
                start = max(start, head - self._records)
                raw = [self._raw(ring, index) for index in range(start, head)]
            self._read_upto[worker] = head
            if lapped:
                yield worker, None
            for fields in raw:
                yield worker, _record(fields)

    def _raw(self, ring: memoryview, index: int) -> tuple[Any, ...]:
        return RECORD.unpack_from(ring, HEAD.size + RECORD.size * (index % self._records))


def _record(fields: tuple[Any, ...]) -> SiblingRecord:
    hashed, pending_kw, last_sent_at, recent_kw, recent_at, booked_kw, number, epoch = fields
    booked = None
    if booked_kw > 0.0:
        booked = (booked_kw, (epoch.rstrip(b"\0").decode("ascii"), number))
    return SiblingRecord(hashed, pending_kw, last_sent_at, recent_kw, recent_at, booked)


class Siblings:
    """What this worker's balancer tells its siblings, and takes from them."""

    def __init__(self, link: SiblingLink, balancer: Balancer) -> None:
        self.link = link
        self.balancer = balancer
        self._keys: dict[int, str] = {}
        self._hashes: dict[str, int] = {}

    def tell(self, key: str, booked: tuple[float, tuple[str, int]] | None = None) -> None:
        """This worker's kW in flight to `key` and booked there lately; `booked`: the kW and
        report sequence of a session it just booked there."""
        if not self.balancer.has(key):
            return
        view = self.balancer.view(key)
        if booked is not None and not _fits_record(booked[1][0]):
            booked = None  # a ledger id we cannot pass on: the load stream will tell
        hashed = self._hashes.get(key)
        if hashed is None:
            hashed = self._hashes[key] = key_hash(key)
        self.link.publish(
            SiblingRecord(
                hashed, view.pending_kw, view.last_sent_at, view.recent_kw, view.recent_at, booked
            )
        )

    def hear(self, now: float) -> None:
        """Take what the siblings told since the last time."""
        for worker, record in self.link.read():
            if record is None:
                self.balancer.forget_sibling(worker)
                continue
            key = self._key_of(record.key_hash)
            if key is None:
                continue
            self.balancer.record_sibling(
                key,
                worker,
                record.pending_kw,
                record.recent_kw,
                record.recent_at,
                record.last_sent_at,
            )
            if record.booked is not None:
                kw, seq = record.booked
                self.balancer.record_sibling_booking(key, kw, seq, now)

    def _key_of(self, hashed: int) -> str | None:
        key = self._keys.get(hashed)
        if key is None:
            keys = {view.key for view in self.balancer.views()}
            if keys != set(self._keys.values()):
                # Substations discovered (or gone) since: learn every key's hash again.
                self._keys = {key_hash(key): key for key in keys}
                key = self._keys.get(hashed)
        return key


def _fits_record(epoch: str) -> bool:
    return epoch.isascii() and len(epoch) <= 32
