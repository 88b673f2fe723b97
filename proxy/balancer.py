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
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from proxy.health import HealthEvent, next_health
from proxy.outlook import Outlook
from proxy.view import SubstationView, has_room

Policy = Literal["headroom", "least-connections", "least-loaded", "round-robin", "random"]
POLICIES: tuple[Policy, ...] = get_args(Policy)

# Above this many serving substations, `headroom` compares two sampled at random (power of
# two choices, as Envoy's least_request does): a choice costs the same at 3 or 3,000, and
# independent proxies with the same view do not all pile onto the same substation.
FULL_SCAN_LIMIT = 8
_SAMPLE_ROUNDS = 4
# At most this many last looks for one charge (`Balancer.room_for`): among thousands of
# substations seen a poll late, each refusal corrects only the one asked.
LAST_LOOKS = 8

# Sessions booked together end together. Among the substations that can take a charge, each
# kW booked at one lately (`SubstationView.recently_booked_kw`) counts against it as this much
# of a kW of spread, so that the bookings of a busy minute, and their ends a session later, do
# not bunch on one substation (`evenness`).
RECENT_WEIGHT = 0.4


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

    def record_booking(self, key: str, ends_at: float, granted_kw: float, booked_at: float) -> None:
        """A session this proxy booked: its end will be taken off the load when it comes."""
        view = self._by_key.get(key)
        if view is not None:
            view.add_booking(ends_at, granted_kw, booked_at)

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
            view.unreachable = event == "refused"

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

    def room_for(
        self,
        amount_kw: float,
        min_amount_kw: float,
        now: float,
        exclude: Collection[str] = (),
        asked: Collection[str] = (),
    ) -> str | None:
        """The router's last looks, when every substation `asked` refused, or none is serving:
        one more substation worth asking (not in `exclude`: those had their last look), or
        None. In turn: the best serving one projected, as of `now`, to have room for the
        curtailed amount (asked before or not: sessions may have ended meanwhile); a recovering
        one with room (one good check since it was down: up, as far as anyone can know); a
        serving one whose room only requests in flight take (they may yet be refused); a
        serving one not asked yet (other proxies' sessions may have ended there since its
        report; a full one refuses cheaply); a down one that refused connections (asking sends
        nothing unless it is back; one at a time). At most `LAST_LOOKS` in all."""
        if len(exclude) >= LAST_LOOKS:
            return None
        if len(self._views) > FULL_SCAN_LIMIT:  # many: a sample, as for every choice
            sampled = self._two_choices(min_amount_kw, now, exclude)
            return sampled[0].key if sampled else None
        serving = self._serving(now, exclude)
        others = [view for view in self._views if view.key not in exclude and not view.draining]
        recovering = [view for view in others if view.health == "recovering"]
        not_asked = [view for view in serving if view.key not in asked]
        found = (
            _best_with_room(serving, amount_kw, min_amount_kw, now)
            or _best_with_room(recovering, amount_kw, min_amount_kw, now)
            or _most_room_but_for_flight(serving, min_amount_kw)
            or best_by_headroom(not_asked, amount_kw, min_amount_kw, now)
            or next((view for view in others if _probe_worthy(view)), None)
        )
        return None if found is None else found.key

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


def _best_with_room(
    views: list[SubstationView], amount_kw: float, min_amount_kw: float, now: float
) -> SubstationView | None:
    best = best_by_headroom(views, amount_kw, min_amount_kw, now)
    return best if best is not None and has_room(best, min_amount_kw) else None


def _most_room_but_for_flight(views: list[SubstationView], kw: float) -> SubstationView | None:
    """The one with the most room for `kw` if every request in flight were refused."""
    best = max(views, key=lambda view: view.headroom_without_flight_kw, default=None)
    return best if best is not None and best.headroom_without_flight_kw >= kw else None


def _probe_worthy(view: SubstationView) -> bool:
    return view.health == "down" and view.unreachable and not view.in_flight


def fits(view: SubstationView, kw: float) -> bool:
    return view.serving and has_room(view, kw)


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
        spread = 0.0
        if outlook is not None and now is not None:
            bunching = view.recently_booked_kw(now) / (view.capacity_kw or 1.0)
            spread = outlook.mean_spread_with(view, amount_kw) + RECENT_WEIGHT * bunching
        return (spread, view.utilization_with(amount_kw), view.in_flight)

    return key


def _unknown_first_then_most_headroom(view: SubstationView) -> tuple[int, float]:
    headroom = view.projected_headroom_kw
    if headroom is None:
        return (0, view.pending_kw)
    return (1, -headroom)
