"""The balancer: what one proxy knows of every substation, and which gets the next charge.

What it may know: each substation's newest load report (the 5-second poll of `/metrics`, or
the `X-Substation-Load-kW` of the last answer, whichever is newer), its capacity, its health,
the requests this proxy has in flight to it (their count and their kW), and the sessions this
proxy booked there. What it must not do: I/O, asyncio, or read a clock; `now` is an argument.
The proxy and the simulator drive it, through `proxy.attempt` and `proxy.polling`.

A choice is two explicit steps: `settle(now)` takes off each view the sessions this proxy knows
have ended (the only change to the views), then the policy reads the views and changes none.
The default policy, `headroom`, is all in `proxy.headroom`; the others are baselines kept to be
measured against (SPEC section 2).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Literal, get_args

from grid.booked import Booking
from grid.protocol import LoadReport
from grid.seen import watts
from proxy import headroom
from proxy.baselines import rank_baseline
from proxy.health import HealthEvent, next_health
from proxy.index import UtilizationIndex
from proxy.largest import LargestLately
from proxy.rollout import Futures, RecentCharges
from proxy.shard import Shard
from proxy.tuning import DEFAULT_TUNING, HeadroomTuning
from proxy.view import SubstationView, fits

Policy = Literal["headroom", "least-connections", "least-loaded", "round-robin", "random"]
POLICIES: tuple[Policy, ...] = get_args(Policy)


@dataclass(slots=True)
class Balancer:
    policy: Policy = "headroom"
    rng: random.Random = field(default_factory=random.Random)
    tuning: HeadroomTuning = DEFAULT_TUNING
    # This worker's name in the charges it sends (`X-Proxy-Ref`, `grid.seen`): the substations'
    # sums of the watts asked under it tell how much in flight a report holds already.
    ref: str | None = None
    _views: list[SubstationView] = field(default_factory=list)
    _by_key: dict[str, SubstationView] = field(default_factory=dict)
    _turn: int = 0
    # When bookings end (a heap of the times) and where (the keys ending at each time, in the
    # order booked): `settle` visits only the views with an end due. Times alone in the heap:
    # compiled, a heap of (time, order, key) tuples spent most of a pop comparing tuples.
    _end_times: list[float] = field(default_factory=list)
    _ending_at: dict[float, list[str]] = field(default_factory=dict)
    # Above `tuning.full_scan_limit` substations, `headroom` chooses from this index; every
    # change of a view's projected load or health goes through `_changed`, which keeps it.
    _index: UtilizationIndex | None = None
    # ... which holds the serving ones only: the down and recovering ones (not draining), by
    # key, for the last looks (`headroom.last_look`). Kept where health or draining changes.
    _out_of_service: dict[str, SubstationView] = field(default_factory=dict)
    # Several proxies sharing the grid (`--shard I/N`; `0/1` for a proxy alone): the
    # substations this one owns, indexed alike; `headroom` prefers them (`proxy.shard`).
    shard: Shard | None = None
    _own_index: UtilizationIndex | None = None
    # The shard's part is cut from the capacities known (`Shard.owned`); a capacity learnt or
    # changed marks it stale, and it is cut again before the next choice.
    _owned: frozenset[str] = frozenset()
    _owned_from: dict[str, float] = field(default_factory=dict)
    _owned_stale: bool = False
    # "<proxy>." of `ref`: the bookings the load stream tells of under it are this proxy's.
    _proxy_prefix: str = field(init=False, default="")
    # The largest session booked on the grid lately, heard in `record_booking`: rule 4's
    # guess at another proxy's charge (`proxy.largest`).
    _largest: LargestLately = field(init=False)
    # And over a longer window, one request as rule 2's outlook weighs it (`proxy.outlook`).
    _one_request: LargestLately = field(init=False)
    # The grid's bookings lately, for rule 2's sampled futures (`proxy.rollout`) when on.
    _recent: RecentCharges | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._largest = LargestLately(self.tuning.largest_charge_window_s)
        self._one_request = LargestLately(self.tuning.one_request_window_s)
        if self.tuning.rollout_draws > 0:
            self._recent = RecentCharges(self.tuning.rollout_window_s)
        if self.ref:
            self._proxy_prefix = self.ref.partition(".")[0] + "."

    def views(self) -> list[SubstationView]:
        return list(self._views)

    def view(self, key: str) -> SubstationView:
        return self._by_key[key]

    def has(self, key: str) -> bool:
        return key in self._by_key

    def find(self, name: str) -> SubstationView | None:
        """A substation by its own name (or by its URL)."""
        by_key = self._by_key.get(name)
        return by_key or next((view for view in self._views if view.name == name), None)

    def set_substations(self, keys: Iterable[str]) -> None:
        """Follow the configured or discovered list; views of kept substations stay."""
        wanted = list(dict.fromkeys(keys))
        self._views = [
            self._by_key.get(key) or SubstationView(key, key, own_ref=self.ref) for key in wanted
        ]
        self._by_key = {view.key: view for view in self._views}
        self._index = self._own_index = None
        self._out_of_service = {}
        if self.policy == "headroom" and len(self._views) > self.tuning.full_scan_limit:
            self._index = UtilizationIndex()
            if self.shard is not None:
                self._own_index = UtilizationIndex()
                self._owned_stale = True
            for view in self._views:
                self._changed(view)
                self._file_health(view)

    def _changed(self, view: SubstationView) -> None:
        if self._index is not None:
            self._index.update(view)
        if self._own_index is not None and not self._owned_stale:
            if view.capacity_kw != self._owned_from.get(view.key):
                self._owned_stale = True
            elif view.key in self._owned:
                self._own_index.update(view)

    def _file_health(self, view: SubstationView) -> None:
        if self._index is None:  # only the index's last looks read the list
            return
        if view.serving or view.draining:
            self._out_of_service.pop(view.key, None)
        else:
            self._out_of_service[view.key] = view

    def own_index(self) -> UtilizationIndex | None:
        """The index of the substations this shard owns, its part cut again first if a
        capacity was learnt or changed since (`Shard.owned`)."""
        if self._own_index is not None and self._owned_stale and self.shard is not None:
            self._owned_from = {
                view.key: view.capacity_kw for view in self._views if view.capacity_kw is not None
            }
            self._owned = self.shard.owned(self._owned_from)
            self._own_index = UtilizationIndex()
            for view in self._views:
                if view.key in self._owned:
                    self._own_index.update(view)
            self._owned_stale = False
        return self._own_index

    def set_draining(self, key: str, draining: bool) -> None:
        view = self._by_key.get(key)
        if view is not None:
            view.draining = draining
            self._changed(view)
            self._file_health(view)

    def record_report(
        self,
        key: str,
        now: float,
        load_kw: float,
        capacity_kw: float,
        sent_at: float | None = None,
        seq: tuple[str, int] | None = None,
        seen: Mapping[str, int] | None = None,
    ) -> None:
        """A load report from a substation's answer (its `X-Substation-*` headers), arrived at
        `now` for a request sent at `sent_at`. Answers to concurrent requests arrive in any
        order: one whose `seq` (the substation's count of changes) is below that of the report
        taken already was measured before it, and is ignored; so is one that arrived earlier."""
        view = self._by_key.get(key)
        if view is None or now < view.reported_at:
            return
        taken = view.report_seq
        if seq is not None and taken is not None and seq[0] == taken[0] and seq[1] < taken[1]:
            return
        view.report_seq = seq  # a poll (no seq) leaves the next answer free to be taken
        view.take_report(now if sent_at is None else sent_at, now, load_kw, capacity_kw)
        view.drop_reported_sibling_bookings(seq, now if sent_at is None else sent_at)
        view.take_seen(seq, seen)
        self._changed(view)

    def record_booking(self, key: str, ends_at: float, granted_kw: float, booked_at: float) -> None:
        """A session this proxy booked: its end will be taken off the load when it comes."""
        view = self._by_key.get(key)
        if view is not None:
            view.add_booking(ends_at, granted_kw, booked_at, self.tuning.recent_fade_s)
            self._largest.add(granted_kw, booked_at)
            self._one_request.add(granted_kw, booked_at)
            if self._recent is not None:
                self._recent.add(granted_kw, booked_at, ends_at)
            keys = self._ending_at.get(ends_at)
            if keys is None:
                self._ending_at[ends_at] = [key]
                heappush(self._end_times, ends_at)
            else:
                keys.append(key)

    def settle(self, now: float) -> None:
        """Bring every view to `now`: sessions this proxy booked that have ended come off the
        reported load. O(log n) per booking ended, whatever the number of substations."""
        times, ending_at = self._end_times, self._ending_at
        while times and times[0] <= now:
            ends_at = heappop(times)
            keys = ending_at[ends_at]
            del ending_at[ends_at]  # compiled, `pop` is a generic method call; these are not
            for key in keys:
                view = self._by_key.get(key)
                if view is not None and view.settle(now):
                    self._changed(view)

    def record_poll(
        self,
        key: str,
        now: float,
        *,
        load_kw: float,
        capacity_kw: float,
        draining: bool,
        name: str | None = None,
        sent_at: float | None = None,
        seq: tuple[str, int] | None = None,
        seen: Mapping[str, int] | None = None,
    ) -> None:
        """A successful poll of the substation's `/metrics`: its load taken as an answer's is,
        by the sequence of the report its answer carries (a substation that sends none: taken
        as the newest)."""
        view = self._by_key.get(key)
        if view is None:
            return
        self.record_report(key, now, load_kw, capacity_kw, sent_at, seq, seen)
        view.polled_load_kw, view.draining = load_kw, draining
        view.name = name or view.name
        self.record_health(key, "poll_ok")  # and the index with it

    def record_stream(self, key: str, report: LoadReport, now: float) -> tuple[Booking, ...]:
        """A report on the substation's load stream: taken as an answer's is (by its
        sequence), and a sign of life (`proxy.health`, "streamed"). Returns the bookings it
        told of first (each booking is on a few lines: each is returned once)."""
        view = self._by_key.get(key)
        if view is None:
            return ()
        view.streaming = True
        self.record_report(
            key, now, report.load_kw, report.capacity_kw, None, report.seq, report.seen
        )
        view.polled_load_kw, view.draining = report.load_kw, report.draining
        view.name = report.substation or view.name
        fresh: tuple[Booking, ...] = ()
        if report.booked and report.seq is not None:
            fresh = view.fresh_bookings(report.seq[0], report.booked)
            # Only `headroom` reads the book (its outlook and bunching term); the baselines
            # stay as they were, and the simulator's city-scale run as quick.
            if fresh and self.policy == "headroom":
                self._take_stream_bookings(view, fresh, now)
        self.record_health(key, "streamed")
        return fresh

    def _take_stream_bookings(
        self, view: SubstationView, fresh: tuple[Booking, ...], now: float
    ) -> None:
        """The sessions other proxies booked there lately (`grid.booked`), each once: counted
        as this proxy's own are, so that the outlook sees them end and the bunching term sees
        them booked. This proxy's own, and its sibling workers', it knows already.

        Settled first: a proxy that books nothing for a while (its own ends settle as it
        chooses) would otherwise gather every end the grid booked meanwhile, and then settle
        them all at its next charge. Through a proxy left idle 45 s while others booked 5,000
        charges a second, that was 17 MB and a p99 of 310 ms (docs/performance.md)."""
        self.settle(now)
        for booking in fresh:
            if booking.ends_at > now and not (
                self._proxy_prefix and booking.ref.startswith(self._proxy_prefix)
            ):
                self.record_booking(view.key, booking.ends_at, booking.kw, now)

    def stream_bookings_taken(self, key: str) -> tuple[str, int] | None:
        """The ledger and sequence up to which `key`'s stream bookings were taken: a line's
        older ones need not be read again."""
        view = self._by_key.get(key)
        return None if view is None else view.stream_booked_seq

    def record_stream_dropped(self, key: str) -> None:
        """The stream broke off: the substation stopped or crashed (a restart starts a new
        one). Out at once, as for a refused connection; polls take over until it is back."""
        view = self._by_key.get(key)
        if view is not None and view.streaming:
            view.streaming = False
            self.record_health(key, "refused")

    def record_health(self, key: str, event: HealthEvent) -> None:
        view = self._by_key.get(key)
        if view is not None:
            view.health = next_health(view.health, event)
            view.unreachable = event == "refused"
            self._changed(view)
            self._file_health(view)

    def record_sibling(
        self, key: str, worker: int, ref: str, in_flight: tuple[float, int, int]
    ) -> None:
        """Sibling `worker` (another worker of this proxy, `proxy.siblings`, named `ref` in its
        requests) now has `in_flight` to `key`: (kW, requests, watts asked there in all)."""
        view = self._by_key.get(key)
        if view is not None:
            pending_kw, requests, sent_w = in_flight
            view.set_sibling(worker, pending_kw, requests, sent_w, ref)
            self._changed(view)

    def record_sibling_booking(
        self, key: str, kw: float, seq: tuple[str, int], ends_at: float, now: float
    ) -> None:
        """A sibling worker booked a session of `kw` at `key`, ending at `ends_at` and held by
        the substation's reports from `seq` on: counted here until this proxy takes one of
        them, and from then on as a session of its own (its end comes off the load when due,
        it counts as booked lately, the outlook sees it end)."""
        view = self._by_key.get(key)
        if view is not None:
            view.add_sibling_booking(kw, seq, now)
            self.record_booking(key, ends_at, kw, now)
            self._changed(view)

    def forget_sibling(self, worker: int) -> None:
        """What sibling `worker` told of its requests in flight can no longer be followed
        (lost, or too old): none of it counts. (The sessions it booked count as before.)"""
        for view in self._views:
            if worker in view.sibling_pending:
                view.set_sibling(worker, 0.0)
                self._changed(view)

    def begin(self, key: str, kw: float, books: bool = True) -> None:
        """A request for `kw` sent to `key`: in flight until `end`. One that `books` nothing
        (its vehicle charges there already: the answer is that session) counts among the
        requests and the watts asked there, but not in the load it may add."""
        view = self._by_key[key]
        view.in_flight += 1
        view.sent_w += watts(kw)
        if books:
            view.pending_kw += kw
        self._changed(view)

    def not_sent(self, key: str, kw: float) -> None:
        """The request for `kw` begun at `key` never left (the connection could not be made):
        it is not among those asked there, which the substation's sums are compared with."""
        view = self._by_key.get(key)
        if view is not None:
            view.sent_w = max(0, view.sent_w - watts(kw))

    def end(self, key: str, kw: float, books: bool = True) -> None:
        view = self._by_key.get(key)
        if view is None:
            return
        view.in_flight -= 1
        # Exactly 0 when nothing is in flight, so float dust never looks like load.
        if view.in_flight == 0:
            view.pending_kw = 0.0
        elif books:
            view.pending_kw = max(0.0, view.pending_kw - kw)
        self._changed(view)

    def choose(
        self,
        amount_kw: float,
        min_amount_kw: float,
        attempts: int,
        now: float | None = None,
        exclude: Collection[str] = (),
    ) -> list[str]:
        """Up to `attempts` substations to try in turn, the best first.

        With `now`, the views are settled to it first, and `headroom` looks ahead from it.
        `exclude` names substations already tried for this request (a retry asks again, so it
        ranks on what the refusals just reported).
        """
        if self.policy == "headroom":
            if now is not None:
                self.settle(now)
            own_index = self.own_index()
            ranked = headroom.rank(
                self._views,
                amount_kw,
                min_amount_kw,
                attempts,
                now,
                exclude,
                self.tuning,
                self.rng,
                self._index,
                own_index,
                # Only rule 4, in a shard, reads it: a grid of a few is not charged for it.
                0.0 if now is None or own_index is None else self._largest.largest(now),
                # Only rule 2 reads it (the outlook): a city is not charged for it.
                0.0 if now is None or self._index is not None else self._one_request.largest(now),
                self._futures(now),
            )
        else:
            serving = [view for view in self._views if view.serving and view.key not in exclude]
            self._turn += 1
            ranked = rank_baseline(self.policy, serving, attempts, self._turn, self.rng)
        return [view.key for view in ranked[:attempts]]

    def _futures(self, now: float | None) -> Futures | None:
        """What rule 2's sampled futures draw from, when they are on and rule 2 chooses."""
        if self._recent is None or now is None or self._index is not None:
            return None
        lately = self._recent.lately(now)
        return None if lately is None else Futures(lately, self.rng)

    def room_for(
        self,
        amount_kw: float,
        min_amount_kw: float,
        now: float,
        exclude: Collection[str] = (),
        asked: Collection[str] = (),
    ) -> str | None:
        """The charge path's last looks (`headroom.last_look`), for every policy: one more
        substation worth asking after all `asked` refused, or None."""
        self.settle(now)
        found = headroom.last_look(
            self._views,
            amount_kw,
            min_amount_kw,
            now,
            exclude,
            asked,
            self.tuning,
            self._index,
            list(self._out_of_service.values()),
        )
        return None if found is None else found.key

    def has_room_for(self, key: str, kw: float, now: float) -> bool:
        """Substation `key` is serving and projected, as of `now`, to have room for `kw`."""
        self.settle(now)
        view = self._by_key.get(key)
        return view is not None and fits(view, kw)
