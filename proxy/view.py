"""What one proxy knows of one substation: its newest load report, its capacity, its health,
the requests this proxy has in flight to it, and the sessions this proxy booked there.

Plain data with the arithmetic on it (projected load, headroom, utilization); `Balancer`
(`proxy.balancer`) keeps one per substation and `proxy.headroom` ranks them. No I/O, no clock:
every time is an argument. It imports nothing of the proxy's but the health states.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from grid.booked import Booking
from grid.seen import watts
from proxy.health import SERVING, HealthState

# Ends of bookings are counted by slots of this long (`SubstationView.ending_slots`), so that the
# outlook (`proxy.outlook`) reads only the slots within its lookahead, whatever the number of
# sessions: at 6,000 charges a second of 2-second sessions, walking every session ending within
# 5 s cost 2 ms.
SLOT_S: Final = 0.25


def slot_of(when: float) -> int:
    return math.floor(when / SLOT_S)


@dataclass(slots=True, eq=False)
class SubstationView:
    key: str  # the substation's base URL: what the proxy dials
    name: str
    capacity_kw: float | None = None
    load_kw: float = 0.0  # newest report, from a poll or an answer
    # The last background report alone (a poll, or the load stream): all `least-loaded` reads.
    polled_load_kw: float = 0.0
    reported_at: float = float("-inf")
    in_flight: int = 0
    pending_kw: float = 0.0
    # The watts this worker has asked here in all (its charges are named `own_ref`:
    # `X-Proxy-Ref`), of them those asked before the substation's ledger began (`sent_base_w`:
    # it restarted), and what the newest report of the ledger says it took from each worker of
    # this proxy (`grid.seen`, in watts).
    own_ref: str | None = None
    sent_w: int = 0
    sent_base_w: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    seen_epoch: str | None = None
    # What the sibling workers of this proxy have in flight here, as each last told
    # (`proxy.siblings`), by worker number: (kW, requests, watts asked here in all, its name).
    sibling_pending: dict[int, tuple[float, int, int, str]] = field(default_factory=dict)
    # Sessions they booked here that this worker's reports do not hold yet: (ledger id, the
    # sequence of the report that holds it, kW, when heard); `sibling_booked_kw` is their sum.
    sibling_booked: deque[tuple[str, int, float, float]] = field(default_factory=deque)
    sibling_booked_kw: float = 0.0
    health: HealthState = "healthy"
    # The last failure was a connection that could not be made: asking again sends nothing
    # unless it is back, so it may be probed with a charge no one else could take.
    unreachable: bool = False
    draining: bool = False
    # Its load stream is open: reports come as they change, and polls leave it alone.
    streaming: bool = False
    # Sessions this proxy (and its sibling workers) booked here, (ends_at, granted kW), in
    # order of their end. Those that
    # ended since the last report are taken off the reported load: between polls, the view of a
    # substation nobody sent to would otherwise stay at its old, higher load. The substation
    # measured a report some time in its round trip, so a session that ended during the round
    # trip still counts as ended: the view errs towards room, which costs a refusal at worst,
    # never a charge turned away while there was room.
    bookings: deque[tuple[float, float]] = field(default_factory=deque)  # not ended at `settle`
    ended: deque[tuple[float, float]] = field(default_factory=deque)  # ended after the report
    ended_since_report_kw: float = 0.0  # the kW in `ended`
    # The slots of time (`slot_of`) in which `bookings` end, in order, and the kW ending in
    # each: the outlook reads those within its lookahead, however many sessions there are.
    ending_slots: list[int] = field(default_factory=list)
    ending_slot_kw: list[float] = field(default_factory=list)
    report_seq: tuple[str, int] | None = None  # of the report taken (X-Substation-Load-Seq)
    # The newest booking heard on the load stream (`grid.booked`): (ledger id, its sequence).
    stream_booked_seq: tuple[str, int] | None = None
    # kW this proxy booked here lately, fading with the tuning's `recent_fade_s` (as of
    # `recent_at`).
    recent_kw: float = 0.0
    recent_at: float = 0.0

    @property
    def serving(self) -> bool:
        return self.health in SERVING and not self.draining

    @property
    def projected_load_kw(self) -> float:
        return (
            max(0.0, self.load_kw - self.ended_since_report_kw)
            + self.unheld_kw
            + self.sibling_kw
            + self.sibling_booked_kw
        )

    @property
    def in_flight_kw(self) -> float:
        """The kW asked here and not answered yet, by this worker and its siblings, whether
        or not the substation took them already: booked lately, for the bunching term."""
        siblings = self.sibling_pending
        if not siblings:
            return self.pending_kw
        return self.pending_kw + sum(kw for kw, _, _, _ in siblings.values())

    def settle(self, now: float) -> bool:
        """Take off the reported load what this proxy knows has ended since the report: True
        if that changed the load (ends due were taken off by an earlier call, or ended before
        the report, which holds them)."""
        bookings, changed = self.bookings, False
        while bookings and bookings[0][0] <= now:
            booking = self._pop_booking()
            if booking[0] > self.reported_at:
                self.ended.append(booking)
                self.ended_since_report_kw += booking[1]
                changed = True
        return changed

    def take_report(self, sent_at: float, at: float, load_kw: float, capacity_kw: float) -> None:
        """A report measured between `sent_at` and `at`: what ended by `sent_at` is in it;
        what ended after may or may not be, and is counted as ended (the view errs to room)."""
        bookings, ended = self.bookings, self.ended
        while bookings and bookings[0][0] <= sent_at:
            self._pop_booking()
        while ended and ended[0][0] <= sent_at:
            self.ended_since_report_kw -= ended.popleft()[1]
        while bookings and bookings[0][0] <= at:
            booking = self._pop_booking()
            ended.append(booking)
            self.ended_since_report_kw += booking[1]
        if not ended:
            self.ended_since_report_kw = 0.0  # exactly, so float dust never looks like room
        self.load_kw, self.capacity_kw, self.reported_at = load_kw, capacity_kw, at

    def add_booking(self, ends_at: float, kw: float, booked_at: float, fade_s: float) -> None:
        self.bookings.append((ends_at, kw))
        self.recent_kw = _faded(self.recent_kw, self.recent_at, booked_at, fade_s) + kw
        self.recent_at = max(self.recent_at, booked_at)
        slot, slots = slot_of(ends_at), self.ending_slots
        place = len(slots) if not slots or slots[-1] < slot else bisect_left(slots, slot)
        if place < len(slots) and slots[place] == slot:
            self.ending_slot_kw[place] += kw
        else:
            slots.insert(place, slot)
            self.ending_slot_kw.insert(place, kw)

    def _pop_booking(self) -> tuple[float, float]:
        ends_at, kw = booking = self.bookings.popleft()
        place = bisect_left(self.ending_slots, slot_of(ends_at))
        left = self.ending_slot_kw[place] - kw
        if left > 1e-9:
            self.ending_slot_kw[place] = left
        else:  # and with it any float dust
            del self.ending_slots[place]
            del self.ending_slot_kw[place]
        return booking

    @property
    def ending_kw(self) -> dict[int, float]:
        """The kW ending in each slot, by slot (for reading; the outlook walks the lists)."""
        return dict(zip(self.ending_slots, self.ending_slot_kw, strict=True))

    @property
    def unheld_kw(self) -> float:
        """The kW this worker has in flight here that the report taken does not hold yet.
        An answer or a streamed report can hold requests of this worker whose own answers are
        still on their way (the substation took them first): counted in the load and again in
        flight, they steered a burst's charges away from the substations that answered first.
        The report's sum of what this worker asked (`seen`) says exactly how much it holds;
        without one (a poll, a substation that does not sum), all in flight counts. A request
        sent that never arrived keeps counting: the view errs to load only by what it cannot
        know."""
        pending_kw = self.pending_kw
        if not pending_kw:
            return pending_kw
        taken_w = None if self.own_ref is None else self.seen.get(self.own_ref)
        if taken_w is None:
            return pending_kw
        unheld_w = self.sent_w - self.sent_base_w - taken_w
        return min(pending_kw, max(0.0, unheld_w * 0.001))

    @property
    def sibling_kw(self) -> float:
        """The kW the siblings have in flight here that the reports taken do not hold yet.
        A sibling that asked W watts here, S of which the newest report says the substation
        took, has W - S of its kW in flight not in the load; the rest are in the load or were
        refused, and counting them again would steer charges away from the very substations
        they just filled (`grid.seen`)."""
        if not self.sibling_pending:
            return 0.0
        total = 0.0
        for kw, _, sent_w, ref in self.sibling_pending.values():
            taken_w = self.seen.get(ref)
            total += kw if taken_w is None else min(kw, max(0, sent_w - taken_w) * 0.001)
        return total

    def take_seen(self, seq: tuple[str, int] | None, seen: Mapping[str, int] | None) -> None:
        """A report's sums of the watts asked by each worker (`grid.seen`): they only grow
        within a ledger; a new ledger (the substation restarted) starts them again."""
        if seen is None or seq is None:
            return
        if seq[0] != self.seen_epoch:
            if self.seen_epoch is not None:  # a new ledger: it sums from its start
                self.sent_base_w = self.sent_w - watts(self.pending_kw)
            self.seen, self.seen_epoch = dict(seen), seq[0]
            return
        for ref, count in seen.items():
            if count > self.seen.get(ref, -1):
                self.seen[ref] = count

    def set_sibling(
        self, worker: int, pending_kw: float, requests: int = 1, sent_w: int = 0, ref: str = ""
    ) -> None:
        """Sibling `worker` (named `ref`) has `requests` here in flight, `pending_kw` in all,
        of `sent_w` watts asked here since it began (0 kW: nothing)."""
        if pending_kw > 0.0 and requests > 0:
            self.sibling_pending[worker] = (pending_kw, requests, sent_w, ref)
        else:
            self.sibling_pending.pop(worker, None)

    def add_sibling_booking(self, kw: float, seq: tuple[str, int], heard_at: float) -> None:
        """A sibling booked `kw` here, held by the substation's reports from `seq` on."""
        taken = self.report_seq
        if taken is not None and taken[0] == seq[0] and taken[1] >= seq[1]:
            return  # the report taken holds it already
        self.sibling_booked.append((seq[0], seq[1], kw, heard_at))
        self.sibling_booked_kw += kw

    def drop_reported_sibling_bookings(self, seq: tuple[str, int] | None, sent_at: float) -> None:
        """A report was taken: the sibling bookings it holds stop counting. A report with a
        sequence holds those of its ledger up to it (one of another ledger: the substation
        restarted, and holds what it kept); one without (a poll) holds those heard before it
        was asked for, as the sibling had the answer by then."""
        if not self.sibling_booked:
            return
        kept: deque[tuple[str, int, float, float]] = deque()
        for booking in self.sibling_booked:
            epoch, number, _, heard_at = booking
            held = heard_at <= sent_at if seq is None else epoch != seq[0] or number <= seq[1]
            if not held:
                kept.append(booking)
        self.sibling_booked = kept
        # Summed afresh, and exactly 0 with none, so float dust never looks like load.
        self.sibling_booked_kw = sum(booking[2] for booking in kept)

    def fresh_bookings(self, epoch: str, booked: tuple[Booking, ...]) -> tuple[Booking, ...]:
        """Those of a load stream line's bookings (`grid.booked`) not taken from an earlier
        line, by their sequence in the ledger `epoch`; marked taken."""
        taken = self.stream_booked_seq
        last = taken[1] if taken is not None and taken[0] == epoch else -1
        fresh = tuple(booking for booking in booked if booking.seq > last)
        self.stream_booked_seq = (epoch, fresh[-1].seq if fresh else last)
        return fresh

    def recently_booked_kw(self, now: float, fade_s: float) -> float:
        """The kW booked here lately (by this proxy, and by its sibling workers), each booking
        weighing e^(-age / fade_s)."""
        return _faded(self.recent_kw, self.recent_at, now, fade_s)

    @property
    def headroom_without_flight_kw(self) -> float:
        """Headroom were every request in flight to be refused."""
        if self.capacity_kw is None:
            return float("-inf")
        return self.capacity_kw - max(0.0, self.load_kw - self.ended_since_report_kw)

    @property
    def projected_headroom_kw(self) -> float | None:
        return self.headroom_at(self.projected_load_kw)

    def headroom_at(self, load_kw: float) -> float | None:
        """`projected_headroom_kw`, the projected load given (a choice computes it once)."""
        if self.capacity_kw is None:
            return None
        return self.capacity_kw - load_kw

    @property
    def projected_utilization(self) -> float:
        if not self.capacity_kw:
            return float("inf")
        return self.projected_load_kw / self.capacity_kw

    def utilization_with(self, kw: float) -> float:
        """Projected utilization once `kw` more is booked here."""
        return self.utilization_at(self.projected_load_kw, kw)

    def utilization_at(self, load_kw: float, kw: float) -> float:
        """`utilization_with`, the projected load given (a choice computes it once a view)."""
        if not self.capacity_kw:
            return float("inf")
        return (load_kw + kw) / self.capacity_kw


def _faded(kw: float, at: float, now: float, fade_s: float) -> float:
    """`kw` booked as of `at`, weighing e^(-age / fade_s) at `now`."""
    if kw == 0.0 or now <= at:
        return kw
    return kw * math.exp((at - now) / fade_s)


def has_room(view: SubstationView, kw: float) -> bool:
    headroom = view.projected_headroom_kw
    return headroom is not None and headroom >= kw


def fits(view: SubstationView, kw: float) -> bool:
    """Serving, and projected to have room for `kw`."""
    return fits_at(view, view.projected_load_kw, kw)


def fits_at(view: SubstationView, load_kw: float, kw: float) -> bool:
    """`fits`, the projected load given (a choice computes it once a view)."""
    headroom = view.headroom_at(load_kw)
    return view.serving and headroom is not None and headroom >= kw
