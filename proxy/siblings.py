"""The workers of one proxy (`--workers N`) tell each other what they book, through memory.

Workers share the port and the kernel splits a burst's connections between them within the
same milliseconds. The load stream tells each worker of the other's bookings a round trip
late (`docs/balance-lab.md`: the seed burst through two blind workers ends up to two requests
apart), and workers of one machine need not wait for the network: each tells its siblings, at
once, what it has in flight to a substation and each session it booked there, with its end
and the sequence of the substation's report that first holds it. A sibling counts that
session on top of its reports until one of them reaches the sequence
(`SubstationView.add_sibling_booking`): counted once, never twice; and from then on as one of
its own sessions (its end comes off the load when due, it counts as booked lately, the
outlook sees it end).

Reports are not passed on: each worker takes its own. What the siblings have in flight counts
as this worker's own does, but for what the reports say the substation took already: every
charge a worker sends is named (`X-Proxy-Ref: <proxy>.<worker>`), substations sum the watts
each worker asked of them, and their reports carry the sums (`grid.seen`;
`SubstationView.sibling_kw`, `SubstationView.unheld_kw`).

`SiblingBoard` is made by the parent before the workers start: one ring of records per worker
in shared memory, each with its lock (the lock is the memory barrier, on any CPU). A worker
writes only its own ring and reads the others'. A record holds the kW in flight as an absolute
value, so a record missed is healed by the next one about the same substation; a reader lapped
by a writer forgets all that writer told.

`Siblings` is the charge path's side, driven alike by the proxy (`proxy.router`) and the
simulator: `hear(now)` before a choice, `asked(step)` and `answered(key, outcome)` after each
step of a charge attempt. What a record means for the view is the balancer's
(`Balancer.record_sibling`, `Balancer.record_sibling_booking`): no I/O there.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.context import SpawnContext
from typing import Any

from grid.seen import new_proxy_name, proxy_ref
from proxy.attempt import Answered, Ask, Outcome, Step
from proxy.balancer import Balancer

# key hash, kW in flight, requests in flight, watts asked there in all, a session booked:
# its kW (0: none), when it ends, the sequence of the report that holds it and the ledger id
# (the sequence's epoch, ASCII, at most 32 bytes).
RECORD = struct.Struct("<Qdqqddq32s")
HEAD = struct.Struct("<Q")  # records written so far, at the ring's start
RING_RECORDS = 16_384  # 1.3 MiB a worker; at 10,000 records a second, 1.6 s of history


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class Booked:
    """A session a worker booked: held by the substation's reports from `seq` on."""

    kw: float
    ends_at: float
    seq: tuple[str, int]


@dataclass(frozen=True, slots=True)
class SiblingRecord:
    key_hash: int
    pending_kw: float
    in_flight: int
    sent_w: int  # watts asked there since the worker began (`grid.seen`)
    booked: Booked | None = None


class SiblingBoard:
    """One ring per worker; made before the workers start and handed to each (picklable
    while spawning)."""

    def __init__(
        self,
        context: SpawnContext,
        workers: int,
        records: int = RING_RECORDS,
        proxy: str | None = None,
    ) -> None:
        self.records = records
        # What the workers' requests are named by (`X-Proxy-Ref: <proxy>.<worker>`, `grid.seen`).
        self.proxy = proxy or new_proxy_name()
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
        self.proxy = board.proxy
        self._records = board.records
        self._rings = [memoryview(ring).cast("B") for ring in board.rings]
        self._locks = board.locks
        self._read_upto = [self._head(worker) for worker in range(board.workers)]

    @property
    def ref(self) -> str:
        """This worker's name in its requests (`X-Proxy-Ref`)."""
        return self.ref_of(self.number)

    def ref_of(self, worker: int) -> str:
        return proxy_ref(self.proxy, worker)

    def _head(self, worker: int) -> int:
        return int(HEAD.unpack_from(self._rings[worker], 0)[0])

    def publish(self, record: SiblingRecord) -> None:
        ring, booked = self._rings[self.number], record.booked or Booked(0.0, 0.0, ("", 0))
        (epoch, number) = booked.seq
        with self._locks[self.number]:
            head = self._head(self.number)
            offset = HEAD.size + RECORD.size * (head % self._records)
            RECORD.pack_into(
                ring, offset, record.key_hash, record.pending_kw, record.in_flight, record.sent_w,
                booked.kw, booked.ends_at, number, epoch.encode("ascii"),
            )  # fmt: skip
            HEAD.pack_into(ring, 0, head + 1)

    def read(self) -> Iterator[tuple[int, SiblingRecord | None]]:
        """(worker, record) for what each sibling wrote since the last read; (worker, None)
        when a sibling wrote more than its ring holds since (what it told is lost)."""
        for worker in range(len(self._rings)):
            if worker == self.number:
                continue
            ring, start = self._rings[worker], self._read_upto[worker]
            if self._head(worker) == start:
                continue  # nothing new: no need for the lock (a stale head only means later)
            with self._locks[worker]:
                head = self._head(worker)
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
    hashed, pending_kw, in_flight, sent_w, booked_kw, ends_at, number, epoch = fields
    booked = None
    if booked_kw > 0.0:
        booked = Booked(booked_kw, ends_at, (epoch.rstrip(b"\0").decode("ascii"), number))
    return SiblingRecord(hashed, pending_kw, in_flight, sent_w, booked)


class Siblings:
    """What this worker's balancer tells its siblings, and takes from them."""

    def __init__(self, link: SiblingLink, balancer: Balancer, silent_after_s: float) -> None:
        """`silent_after_s`: the longest a request can be in flight (the proxy's connect and
        upstream timeouts). A sibling that told nothing for longer has nothing in flight, or
        has died: what it told of its requests in flight stops counting."""
        self.link = link
        self.balancer = balancer
        self.silent_after_s = silent_after_s
        self._keys: dict[int, str] = {}
        self._hashes: dict[str, int] = {}
        self._last_heard: dict[int, float] = {}  # siblings that told something not forgotten

    def tell(self, key: str, booked: Booked | None = None) -> None:
        """This worker's requests in flight to `key`, and a session it just booked there."""
        if not self.balancer.has(key):
            return
        view = self.balancer.view(key)
        if booked is not None and not _fits_record(booked.seq[0]):
            booked = None  # a ledger id we cannot pass on: the load stream will tell
        hashed = self._hashes.get(key)
        if hashed is None:
            hashed = self._hashes[key] = key_hash(key)
        self.link.publish(
            SiblingRecord(hashed, view.pending_kw, view.in_flight, view.sent_w, booked)
        )

    def asked(self, step: Step) -> None:
        """After a step of a charge attempt: an `Ask` put a request in flight."""
        if isinstance(step, Ask):
            self.tell(step.substation)

    def answered(self, key: str, outcome: Outcome) -> None:
        """After the attempt took the outcome of asking `key`: its request is no longer in
        flight, and a 201 booked a session there, held by reports from its sequence on."""
        booked = None
        if isinstance(outcome, Answered) and outcome.status == 201:
            session, report = outcome.session, outcome.report
            if session is not None and report is not None and report.seq is not None:
                booked = Booked(session.granted_kw, session.ends_at, report.seq)
        self.tell(key, booked)

    def hear(self, now: float) -> None:
        """Take what the siblings told since the last time; forget what a sibling silent for
        longer than a request can take told of its requests in flight."""
        for worker, record in self.link.read():
            self._last_heard[worker] = now
            if record is None:
                self.balancer.forget_sibling(worker)
                continue
            key = self._key_of(record.key_hash)
            if key is None:
                continue
            in_flight = (record.pending_kw, record.in_flight, record.sent_w)
            self.balancer.record_sibling(key, worker, self.link.ref_of(worker), in_flight)
            booked = record.booked
            if booked is not None:
                self.balancer.record_sibling_booking(
                    key, booked.kw, booked.seq, booked.ends_at, now
                )
        silent = [w for w, heard in self._last_heard.items() if now - heard > self.silent_after_s]
        for worker in silent:
            del self._last_heard[worker]
            self.balancer.forget_sibling(worker)

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
