"""One charge through one proxy, as a state machine: which substation to ask next, and what each
outcome means.

Every rule of the charge path lives here once: the vehicle's own substation first, then the
balancer's pick, up to `retries` more after refusals or broken connections; then last looks
(`Balancer.room_for`); what an answer teaches (health, load report, session, booking); and when
to give up, with which error. The proxy's `ChargeRouter` drives it with real answers, the
simulator (`proxy.simulate.engine`) with simulated ones.

What it must not do: await, read a clock, or touch a socket. `now` is an argument; outcomes
are plain values the driver builds from what happened.

    start ─▶ Ask(K) ─outcome─▶ Ask(K') ─ ... ─▶ Finished(status)   the answer goes to the driver
                                            └─▶ GiveUp(error)     503, or 504 after a timeout

Between choosing a substation and counting the request in flight there is no await (both happen
in `start`/`take`), so concurrent charges always see each other's pending kW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grid.errors import ApiError, NoCapacity
from grid.protocol import ChargeRequest, LoadReport
from proxy.balancer import Balancer
from proxy.directory import SessionDirectory, SessionRoute
from proxy.errors import NoHealthySubstation, UpstreamTimeout

# Outcomes of asking one substation, as the driver saw them.


@dataclass(frozen=True, slots=True)
class Answered:
    """An HTTP answer: a session (200/201), a refusal (503 with its Retry-After, and when the
    substation knows it, `room_in_s`: how soon its sessions' ends make room), or another."""

    status: int
    report: LoadReport | None = None
    session: SessionRoute | None = None
    retry_after_s: float = 1.0
    room_in_s: float | None = None

    def __init__(
        self,
        status: int,
        report: LoadReport | None = None,
        session: SessionRoute | None = None,
        retry_after_s: float = 1.0,
        room_in_s: float | None = None,
    ) -> None:
        # Written out, not generated: mypyc compiles this one (docs/performance.md, 2026-12-03).
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "retry_after_s", retry_after_s)
        object.__setattr__(self, "room_in_s", room_in_s)


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The connection could not be made: nothing was sent."""


@dataclass(frozen=True, slots=True)
class Broken:
    """The connection broke before any answer (the substation crashed or reset)."""


@dataclass(frozen=True, slots=True)
class TimedOut:
    """No answer in time: the substation may have booked the charge."""

    detail: str


Outcome = Answered | Unreachable | Broken | TimedOut
UNREACHABLE, BROKEN = Unreachable(), Broken()

# Steps: what the driver does next.


@dataclass(frozen=True, slots=True)
class Ask:
    substation: str  # the substation's key (base URL)
    retry: bool  # not the first substation asked for this charge
    last_look: bool  # asked after the retries, because it may have room after all
    at: float = 0.0  # not before this moment (a timed last look); at once if it has passed

    def __init__(self, substation: str, retry: bool, last_look: bool, at: float = 0.0) -> None:
        # Written out, not generated: mypyc compiles this one (docs/performance.md, 2026-12-03).
        object.__setattr__(self, "substation", substation)
        object.__setattr__(self, "retry", retry)
        object.__setattr__(self, "last_look", last_look)
        object.__setattr__(self, "at", at)


@dataclass(frozen=True, slots=True)
class Finished:
    """The last answer goes to the driver as it is (a session, or an error that is final)."""

    status: int

    def __init__(self, status: int) -> None:
        # Written out, not generated: mypyc compiles this one (docs/performance.md, 2026-12-03).
        object.__setattr__(self, "status", status)


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No substation booked it: `NoCapacity` (refused everywhere: it may wait for room, see
    `proxy.waiting.may_wait`), `NoHealthySubstation`, or `UpstreamTimeout`."""

    error: ApiError


Step = Ask | Finished | GiveUp


class ChargeAttempt:
    """One try of one charge: `start(now)`, then `take(outcome, now)` after each `Ask`."""

    __slots__ = (
        "_asking",
        "_asking_again",
        "_balancer",
        "_directory",
        "_request",
        "_retries",
        "_sent_at",
        "asked",
        "looked",
        "looked_again",
        "refusals",
        "room_at",
        "room_key",
        "room_looks",
        "room_since",
    )

    def __init__(
        self,
        request: ChargeRequest,
        balancer: Balancer,
        directory: SessionDirectory,
        retries: int,
    ) -> None:
        self._request = request
        self._balancer = balancer
        self._directory = directory
        self._retries = retries
        self._asking: str | None = None
        # Asking the vehicle's own substation, where it charges already: the answer is that
        # session, so the request adds no load there (`Balancer.begin`).
        self._asking_again = False
        self._sent_at = 0.0
        self.asked: list[str] = []  # in order, last looks included
        self.looked: set[str] = set()  # asked on a last look: once each
        self.looked_again: set[str] = set()  # and again, as room was freed there since
        self.refusals: list[float] = []  # the Retry-After of each refusal
        # The soonest room a refusal told of (`Answered.room_in_s`), as a moment and where.
        self.room_at = math.inf
        self.room_key: str | None = None
        self.room_looks = 0  # timed last looks taken
        self.room_since = math.inf  # when the first was decided: they wait `room_wait_s` in all

    def start(self, now: float) -> Step:
        return self._next(now)

    def take(self, outcome: Outcome, now: float) -> Step:
        """What happened to the last `Ask`; the next step."""
        key = self._end_asking()
        if isinstance(outcome, Answered):
            learn_answer(self._balancer, self._directory, key, outcome, self._sent_at, now)
            if outcome.status != 503:
                return Finished(outcome.status)
            self.refusals.append(outcome.retry_after_s)
            if outcome.room_in_s is not None and now + outcome.room_in_s < self.room_at:
                self.room_at, self.room_key = now + outcome.room_in_s, key
        elif isinstance(outcome, Unreachable):
            self._balancer.record_health(key, "refused")
            self._balancer.not_sent(key, self._request.amount_kw)
        else:
            self._balancer.record_health(key, "timed_out")
            if isinstance(outcome, TimedOut):
                return GiveUp(UpstreamTimeout(outcome.detail))
            # Broken: trying the next one can leave a session booked on the crashed one if it
            # wrote it in its last instant; that power is reserved, never exceeded, and ends on
            # time. A 5xx to the driver while others have room would be worse.
        return self._next(now)

    def abandon(self) -> None:
        """The driver stopped waiting (the client hung up): nothing is in flight any more."""
        if self._asking is not None:
            self._end_asking()

    def _end_asking(self) -> str:
        key = self._asking
        assert key is not None, "take() without an Ask"
        self._asking = None
        self._balancer.end(key, self._request.amount_kw, books=not self._asking_again)
        return key

    def _next(self, now: float) -> Step:
        request, last_look, at, again = self._request, False, 0.0, False
        key = None
        if len(self.asked) <= self._retries:
            key, again = self._candidate(now)
        if key is None:
            # Refused everywhere asked (or nowhere to ask), but sessions may have ended during
            # those round trips, or a substation taken out be back: a last look.
            key = self._balancer.room_for(
                request.amount_kw,
                request.min_amount_kw,
                now=now,
                exclude=self.looked,
                asked=self.asked,
            )
            if key is None:
                key = self._freed_since_looked(now)
            if key is None:
                key, at = self._room_soon(now)
            if key is None:
                return self._give_up()
            self.looked.add(key)
            last_look = True
        self._balancer.begin(key, request.amount_kw, books=not again)
        self._asking, self._asking_again, self._sent_at = key, again, max(at, now)
        retry = bool(self.asked)
        self.asked.append(key)
        return Ask(key, retry, last_look, at)

    def _candidate(self, now: float) -> tuple[str | None, bool]:
        """The vehicle's own substation first if it charges somewhere (and True: asked again
        for the session it has), else the balancer's pick."""
        request = self._request
        if not self.asked:
            route = self._directory.for_vehicle(request.vehicle_id, now)
            if route is not None and self._balancer.has(route.substation):
                return route.substation, True
        picks = self._balancer.choose(
            request.amount_kw, request.min_amount_kw, 1, now=now, exclude=self.asked
        )
        return (picks[0] if picks else None), False

    def _freed_since_looked(self, now: float) -> str | None:
        """A substation that refused on its last look but shows room for the curtailed amount
        now (a session this proxy booked there ended since, or a report says so): asked once
        more, within the last looks' budget. Otherwise a driver is turned away from power the
        proxy knows is free (a session ending in the round trip of a last look elsewhere)."""
        looks = len(self.looked) + len(self.looked_again)
        if looks >= self._balancer.tuning.last_looks:
            return None
        for key in sorted(self.looked - self.looked_again):
            if self._balancer.has_room_for(key, self._request.min_amount_kw, now):
                self.looked_again.add(key)
                return key
        return None

    def _room_soon(self, now: float) -> tuple[str | None, float]:
        """The substation whose refusal said its sessions' ends make room soon, and when:
        asked once more then, rather than turning the driver away from power that frees in
        milliseconds (a session another proxy booked, ending while this charge made its round
        trips). Another proxy may take that room first; its refusal says when the next comes.
        At most `room_looks` of them, all within `room_wait_s` of the first."""
        key, tuning = self.room_key, self._balancer.tuning
        if key is None or self.room_looks >= tuning.room_looks or not self._balancer.has(key):
            return None, 0.0
        since = min(self.room_since, now)
        if self.room_at - since > tuning.room_wait_s:
            return None, 0.0
        at, self.room_since, self.room_looks = self.room_at, since, self.room_looks + 1
        self.room_at, self.room_key = math.inf, None  # told once: the next refusal tells anew
        return key, at

    def _give_up(self) -> GiveUp:
        if not self.refusals:
            return GiveUp(NoHealthySubstation("no substation is up and taking charges"))
        error = NoCapacity(
            f"{len(self.refusals)} substation(s) asked had no room for "
            f"{self._request.min_amount_kw:g} kW",
            retry_after_s=min(self.refusals),
            headroom_kw=None,
        )
        return GiveUp(error)


def learn_answer(
    balancer: Balancer,
    directory: SessionDirectory,
    key: str,
    answer: Answered,
    sent_at: float,
    now: float,
) -> None:
    """Take what any answer of substation `key` teaches: it is up, its load report, and the
    session if it is one (a 201 was booked by this proxy: its end will free power)."""
    balancer.record_health(key, "answered")
    report = answer.report
    if report is not None:
        balancer.record_report(
            key, now, report.load_kw, report.capacity_kw, sent_at, report.seq, report.seen
        )
    route = answer.session
    if route is not None and answer.status in (200, 201):
        directory.remember(route, now)
        if answer.status == 201:
            balancer.record_booking(key, route.ends_at, route.granted_kw, now)


def learn_stream_report(
    balancer: Balancer, directory: SessionDirectory, key: str, report: LoadReport, now: float
) -> None:
    """Take a report on substation `key`'s load stream: its load and the bookings it tells of
    first (`Balancer.record_stream`), and where each of those vehicles now charges, so that a
    vehicle asking again through this proxy asks there and gets its session back, when it was
    booked through another proxy or worker. This worker's own bookings it learnt from their
    answers, with their session ids. A new subscriber's first lines tell of every vehicle
    charging there (`report.vehicles`): a proxy that starts or restarts learns them all."""
    for booking in balancer.record_stream(key, report, now):
        if booking.vehicle_id and booking.ends_at > now and booking.ref != balancer.ref:
            directory.remember_vehicle(booking.vehicle_id, key, booking.ends_at, now)
    for vehicle_id, ends_at in report.vehicles or ():
        if ends_at > now:
            directory.remember_vehicle(vehicle_id, key, ends_at, now)
