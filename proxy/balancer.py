"""The balancer: which substation gets the next charge, from what one proxy can know.

What it may know: each substation's newest load report (the 5-second poll of `/metrics`, or
the `X-Substation-Load-kW` of the last answer, whichever is newer), its capacity, its health,
and the requests this proxy has in flight to it (their count and their kW). What it must not
do: I/O, asyncio, or read a clock; `now` is an argument. The proxy and the simulator drive it.

The default policy, `headroom`, works from projected loads: `reported_load + pending_kw`, less
the sessions this proxy booked that have ended since the report. Counting the power in flight
is what spreads a burst of 100 simultaneous requests before any answer or poll can show where
they went. Among the substations that can take the full amount it picks the one that keeps the
grid evenest over the next few seconds (`proxy.outlook`), then the lowest utilization *after*
booking (a 22 kW charge moves a 250 kW substation 2.4 times as far as a 600 kW one); with none,
the largest headroom that fits the curtailed amount. The others are baselines kept to be
measured against (SPEC section 2).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from proxy.health import SERVING, HealthEvent, HealthState, next_health
from proxy.outlook import Outlook, slot_of

Policy = Literal["headroom", "least-connections", "least-loaded", "round-robin", "random"]
POLICIES: tuple[Policy, ...] = get_args(Policy)

# Above this many serving substations, `headroom` compares two sampled at random (power of
# two choices, as Envoy's least_request does): a choice costs the same at 3 or 3,000, and
# independent proxies with the same view do not all pile onto the same substation.
FULL_SCAN_LIMIT = 8
_SAMPLE_ROUNDS = 4


@dataclass(slots=True, eq=False)
class SubstationView:
    key: str  # the substation's base URL: what the proxy dials
    name: str
    capacity_kw: float | None = None
    load_kw: float = 0.0  # newest report, from a poll or an answer
    polled_load_kw: float = 0.0  # the last poll alone: all `least-loaded` looks at
    reported_at: float = float("-inf")
    in_flight: int = 0
    pending_kw: float = 0.0
    health: HealthState = "healthy"
    draining: bool = False
    # Sessions this proxy booked here, (ends_at, granted kW), in order of their end. Those that
    # ended since the last report are taken off the reported load: between polls, the view of a
    # substation nobody sent to would otherwise stay at its old, higher load. The substation
    # measured a report some time in its round trip, so a session that ended during the round
    # trip still counts as ended: the view errs towards room, which costs a refusal at worst,
    # never a charge turned away while there was room.
    bookings: deque[tuple[float, float]] = field(default_factory=deque)  # not ended at `settle`
    ended: deque[tuple[float, float]] = field(default_factory=deque)  # ended after the report
    ended_since_report_kw: float = 0.0  # the kW in `ended`
    # The kW of `bookings` by the slot of time they end in (`outlook.slot_of`): the outlook
    # reads a few slots, however many sessions there are.
    ending_kw: dict[int, float] = field(default_factory=dict)
    report_seq: tuple[str, int] | None = None  # of the report taken (X-Substation-Load-Seq)

    @property
    def serving(self) -> bool:
        return self.health in SERVING and not self.draining

    @property
    def projected_load_kw(self) -> float:
        return max(0.0, self.load_kw - self.ended_since_report_kw) + self.pending_kw

    def settle(self, now: float) -> None:
        """Take off the reported load what this proxy knows has ended since the report."""
        bookings = self.bookings
        while bookings and bookings[0][0] <= now:
            booking = self._pop_booking()
            if booking[0] > self.reported_at:
                self.ended.append(booking)
                self.ended_since_report_kw += booking[1]

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

    def add_booking(self, ends_at: float, kw: float) -> None:
        self.bookings.append((ends_at, kw))
        slot = slot_of(ends_at)
        self.ending_kw[slot] = self.ending_kw.get(slot, 0.0) + kw

    def _pop_booking(self) -> tuple[float, float]:
        ends_at, kw = booking = self.bookings.popleft()
        slot = slot_of(ends_at)
        left = self.ending_kw[slot] - kw
        if left > 1e-9:
            self.ending_kw[slot] = left
        else:
            del self.ending_kw[slot]  # and with it any float dust
        return booking

    @property
    def projected_headroom_kw(self) -> float | None:
        if self.capacity_kw is None:
            return None
        return self.capacity_kw - self.projected_load_kw

    @property
    def projected_utilization(self) -> float:
        if not self.capacity_kw:
            return float("inf")
        return self.projected_load_kw / self.capacity_kw

    def utilization_with(self, kw: float) -> float:
        """Projected utilization once `kw` more is booked here."""
        if not self.capacity_kw:
            return float("inf")
        return (self.projected_load_kw + kw) / self.capacity_kw


@dataclass(slots=True)
class Balancer:
    policy: Policy = "headroom"
    rng: random.Random = field(default_factory=random.Random)
    _views: list[SubstationView] = field(default_factory=list)
    _by_key: dict[str, SubstationView] = field(default_factory=dict)
    _turn: int = 0

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
        self._views = [self._by_key.get(key) or SubstationView(key, key) for key in wanted]
        self._by_key = {view.key: view for view in self._views}

    def record_report(
        self,
        key: str,
        now: float,
        load_kw: float,
        capacity_kw: float,
        sent_at: float | None = None,
        seq: tuple[str, int] | None = None,
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

    def record_booking(self, key: str, ends_at: float, granted_kw: float) -> None:
        """A session this proxy booked: its end will be taken off the load when it comes."""
        view = self._by_key.get(key)
        if view is not None:
            view.add_booking(ends_at, granted_kw)

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
    ) -> None:
        """A successful poll of the substation's `/metrics`."""
        view = self._by_key.get(key)
        if view is None:
            return
        self.record_report(key, now, load_kw, capacity_kw, sent_at)
        view.polled_load_kw, view.draining = load_kw, draining
        view.name = name or view.name
        self.record_health(key, "poll_ok")

    def record_health(self, key: str, event: HealthEvent) -> None:
        view = self._by_key.get(key)
        if view is not None:
            view.health = next_health(view.health, event)

    def begin(self, key: str, kw: float) -> None:
        view = self._by_key[key]
        view.in_flight += 1
        view.pending_kw += kw

    def end(self, key: str, kw: float) -> None:
        view = self._by_key.get(key)
        if view is None:
            return
        view.in_flight -= 1
        # Exactly 0 when nothing is in flight, so float dust never looks like load.
        view.pending_kw = 0.0 if view.in_flight == 0 else max(0.0, view.pending_kw - kw)

    def choose(
        self,
        amount_kw: float,
        min_amount_kw: float,
        attempts: int,
        now: float | None = None,
        exclude: Collection[str] = (),
    ) -> list[str]:
        """Up to `attempts` substations to try in turn, the best first.

        With `now`, `headroom` takes off the load of sessions known to have ended by then.
        `exclude` names substations already tried for this request (a retry asks again, so it
        ranks on what the refusals just reported).
        """
        if self.policy == "headroom" and attempts == 1 and len(self._views) <= FULL_SCAN_LIMIT:
            # The charge path asks for one at a time: the best in one pass, no sort.
            best = best_by_headroom(self._serving(now, exclude), amount_kw, min_amount_kw, now)
            return [] if best is None else [best.key]
        if self.policy == "headroom":
            ranked = self._rank_by_headroom(amount_kw, min_amount_kw, now, exclude)
        else:
            serving = [view for view in self._views if view.serving and view.key not in exclude]
            ranked = self._rank_baseline(serving, attempts)
        return [view.key for view in ranked[:attempts]]

    def room_for(self, amount_kw: float, min_amount_kw: float, now: float) -> str | None:
        """The router's last look, when every substation asked refused: the best one projected,
        as of `now`, to have room for at least the curtailed amount, or None. Substations
        already asked count again, and so do recovering ones (one good poll since they were
        down: up, as far as anyone can know) rather than turning the driver away."""
        if len(self._views) > FULL_SCAN_LIMIT:  # many: a sample, as for every choice
            sampled = self._two_choices(min_amount_kw, now, ())
            return sampled[0].key if sampled else None
        best = best_by_headroom(self._serving(now, ()), amount_kw, min_amount_kw, now)
        if best is not None and fits(best, min_amount_kw):
            return best.key
        recovering = [v for v in self._views if v.health == "recovering" and not v.draining]
        best = best_by_headroom(recovering, amount_kw, min_amount_kw, now)
        return best.key if best is not None and has_room(best, min_amount_kw) else None

    def _rank_by_headroom(
        self, amount_kw: float, min_amount_kw: float, now: float | None, exclude: Collection[str]
    ) -> list[SubstationView]:
        if len(self._views) > FULL_SCAN_LIMIT:
            sampled = self._two_choices(amount_kw, now, exclude)
            if sampled:
                return sampled
        serving = self._serving(now, exclude)
        # A full scan over many (P2C found nothing that fits) ranks on the present alone.
        lookahead_at = now if len(serving) <= FULL_SCAN_LIMIT else None
        return rank_by_headroom(serving, amount_kw, min_amount_kw, lookahead_at)

    def _serving(self, now: float | None, exclude: Collection[str]) -> list[SubstationView]:
        serving = [view for view in self._views if view.serving and view.key not in exclude]
        if now is not None:
            for view in serving:
                view.settle(now)
        return serving

    def _two_choices(
        self, amount_kw: float, now: float | None, exclude: Collection[str]
    ) -> list[SubstationView]:
        """Best of random pairs that fit the full amount; [] sends the caller to a full scan."""
        chosen: list[SubstationView] = []
        for _ in range(_SAMPLE_ROUNDS):
            pair = self.rng.sample(self._views, 2)
            if now is not None:
                for view in pair:
                    view.settle(now)
            fitting = [
                view
                for view in pair
                if view not in chosen and view.key not in exclude and fits(view, amount_kw)
            ]
            # Utilization before booking, not after as below FULL_SCAN_LIMIT: with 1,000
            # substations and 8 proxies blind to each other, "after" sent big charges to big
            # substations so often that they filled up (city-scale spread_p95 1.0, not 0.83).
            fitting.sort(key=lambda view: (view.projected_utilization, view.in_flight))
            chosen.extend(fitting)
            if len(chosen) >= 2:
                break
        return chosen

    def _rank_baseline(self, serving: list[SubstationView], attempts: int) -> list[SubstationView]:
        """The baselines' order; for one attempt, only its head."""
        if self.policy == "random":
            if attempts == 1 and serving:
                return [self.rng.choice(serving)]
            return self.rng.sample(serving, len(serving))
        self._turn += 1
        if self.policy == "round-robin":
            start = self._turn % max(1, len(serving))
            return serving[start:] + serving[:start]
        if self.policy == "least-loaded":
            # The seed's rule: the lowest polled load, first listed on a tie.
            return _lowest(serving, lambda view: view.polled_load_kw, attempts)
        # least-connections, ties taken in turn as HAProxy's leastconn does.
        start = self._turn % max(1, len(serving))
        rotated = serving[start:] + serving[:start]
        return _lowest(rotated, lambda view: view.in_flight, attempts)


def _lowest(
    views: list[SubstationView], key: Callable[[SubstationView], float], count: int
) -> list[SubstationView]:
    """`sorted(views, key=key)[:count]`; min() (the first lowest, as a stable sort's head) for
    one, which is what the charge path asks for: O(n), not O(n log n), at 3,000 substations."""
    if count == 1 and views:
        return [min(views, key=key)]
    return sorted(views, key=key)[:count]


def fits(view: SubstationView, kw: float) -> bool:
    return view.serving and has_room(view, kw)


def has_room(view: SubstationView, kw: float) -> bool:
    headroom = view.projected_headroom_kw
    return headroom is not None and headroom >= kw


def rank_by_headroom(
    serving: list[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    now: float | None = None,
) -> list[SubstationView]:
    """Full amount first (the evenest grid: `evenness`), then curtailed, then the rest.

    A substation projected to be full is still worth asking last: our view may be up to a poll
    old, and only the substation's own ledger knows. It refuses cheaply if it has no room.
    """
    full: list[SubstationView] = []
    curtailed: list[SubstationView] = []
    rest: list[SubstationView] = []
    for view in serving:
        if fits(view, amount_kw):
            full.append(view)
        elif fits(view, min_amount_kw):
            curtailed.append(view)
        else:
            rest.append(view)
    full.sort(key=evenness(serving, full, amount_kw, now))
    curtailed.sort(key=lambda view: -(view.projected_headroom_kw or 0.0))
    rest.sort(key=_unknown_first_then_most_headroom)
    return full + curtailed + rest


def best_by_headroom(
    serving: list[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    now: float | None = None,
) -> SubstationView | None:
    """`rank_by_headroom(...)[0]`, without sorting what cannot come first."""
    full = [view for view in serving if fits(view, amount_kw)]
    if full:
        return min(full, key=evenness(serving, full, amount_kw, now))
    best: SubstationView | None = None
    best_key: tuple[int, float] = (3, 0.0)
    for view in serving:
        # Curtailed (rank 0, most headroom first), then unknown (1), then full (2).
        headroom = view.projected_headroom_kw
        if headroom is not None and headroom >= min_amount_kw:
            key = (0, -headroom)
        elif headroom is None:
            key = (1, view.pending_kw)
        else:
            key = (2, -headroom)
        if best is None or key < best_key:
            best, best_key = view, key
    return best


def evenness(
    serving: list[SubstationView], full: list[SubstationView], amount_kw: float, now: float | None
) -> Callable[[SubstationView], tuple[float, float, int]]:
    """The sort key among substations that can take the full amount, best first: the mean
    spread over the next seconds if booked there (`proxy.outlook`; only with `now` and a
    choice to make), then the utilization it would have, then its requests in flight."""
    outlook: Outlook | None = None
    if now is not None and len(full) > 1:
        outlook = Outlook([view for view in serving if view.capacity_kw], now)

    def key(view: SubstationView) -> tuple[float, float, int]:
        spread = 0.0 if outlook is None else outlook.mean_spread_with(view, amount_kw)
        return (spread, view.utilization_with(amount_kw), view.in_flight)

    return key


def _unknown_first_then_most_headroom(view: SubstationView) -> tuple[int, float]:
    headroom = view.projected_headroom_kw
    if headroom is None:
        return (0, view.pending_kw)
    return (1, -headroom)
