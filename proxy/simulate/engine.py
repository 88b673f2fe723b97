"""Discrete events in virtual time, driving the real `Balancer`, `SessionLedger` and `WaitQueue`.

The model is what a proxy can know. Each proxy has its own `Balancer`: it sees substations as
of its own last (jittered) poll (a substation taken out is polled every second), plus the load
report in each answer it got, plus its own requests in flight. A request takes half a round
trip to reach its substation, whose ledger decides, and half to come back. A failed
substation refuses connections; its sessions end at once and count as interrupted. Nothing
here is a second implementation of a policy or of admission: only the network and the clock
are simulated.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from grid.errors import NoCapacity
from grid.ledger import Session, SessionLedger
from grid.protocol import ChargeRequest
from proxy.balancer import Balancer, Policy
from proxy.config import DEFAULT_DOWN_POLL_INTERVAL_S, DEFAULT_RETRIES
from proxy.health import SERVING
from proxy.simulate.measure import Measurements
from proxy.simulate.scenario import Scenario
from proxy.waiting import Waiter, WaitQueue

# The proxy's defaults.
RETRIES = DEFAULT_RETRIES
DOWN_POLL_INTERVAL_S = DEFAULT_DOWN_POLL_INTERVAL_S
SAMPLE_INTERVAL_S = 1.0
JITTER = 0.2


@dataclass(slots=True, eq=False)
class Trip:
    """One charge request on its way through one proxy, and the substations it tried."""

    request: ChargeRequest
    proxy: int
    tried: list[str] = field(default_factory=list)
    refusals: list[float] = field(default_factory=list)  # Retry-After of each refusal
    waiter: Waiter[Trip] | None = None
    looked: set[str] = field(default_factory=set)  # asked on the router's last looks


@dataclass(slots=True)
class SimProxy:
    balancer: Balancer
    queue: WaitQueue[Trip] = field(default_factory=WaitQueue)
    pump_at: float | None = None


class Simulation:
    def __init__(self, scenario: Scenario, policy: Policy, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        session_ids = itertools.count()
        self.ledgers = {
            spec.name: SessionLedger(
                spec.name,
                spec.capacity_kw,
                scenario.session_seconds,
                lambda: str(next(session_ids)),
            )
            for spec in scenario.substations
        }
        self.down: set[str] = set()
        self.proxies = [
            SimProxy(Balancer(policy=policy, rng=random.Random(seed * 1000 + number)))
            for number in range(scenario.proxies)
        ]
        self.measure = Measurements(self.ledgers)
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def run(self) -> Measurements:
        for proxy in self.proxies:
            proxy.balancer.set_substations(self.ledgers)
            self._poll(proxy)  # a proxy starts knowing every capacity, as the real one does
            self.at(DOWN_POLL_INTERVAL_S, partial(self._poll_out_of_service, proxy))
        self._schedule_arrivals()
        for failure in self.scenario.failures:
            self.at(failure.at_s, partial(self._fail, failure.substation))
            self.at(failure.until_s, partial(self.down.discard, failure.substation))
        self.at(0.0, self._sample)
        while self._events:
            when, _, action = heapq.heappop(self._events)
            if when > self.scenario.duration_s:
                break
            self.now = when
            action()
        return self.measure

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._order), action))

    def _schedule_arrivals(self) -> None:
        scenario, number = self.scenario, itertools.count()
        for _ in range(scenario.burst):
            self.at(0.0, partial(self._arrive, next(number)))
        peak, t = scenario.peak_rate, 0.0
        while peak > 0:
            t += self.rng.expovariate(peak)
            if t > scenario.duration_s:
                break
            # Thinning: a Poisson process at the peak rate, kept with probability rate(t)/peak.
            if self.rng.random() * peak < scenario.rate_at(t):
                self.at(t, partial(self._arrive, next(number)))

    def _arrive(self, number: int) -> None:
        low, high = self.scenario.amount_kw
        amount_kw = round(self.rng.uniform(low, high), 1)
        minimum_kw = round(amount_kw * self.scenario.min_amount_ratio, 3)
        request = ChargeRequest(f"EV-{number}", amount_kw, minimum_kw)
        self.measure.requests += 1
        self._start(Trip(request, number % len(self.proxies), []))

    def _start(self, trip: Trip) -> None:
        trip.tried, trip.refusals, trip.looked = [], [], set()
        self._try_next(trip)

    def _try_next(self, trip: Trip) -> None:
        """Ask the balancer again, as the proxy does, without the substations already tried."""
        balancer = self.proxies[trip.proxy].balancer
        request = trip.request
        picks = []
        if len(trip.tried) <= RETRIES:
            picks = balancer.choose(
                request.amount_kw, request.min_amount_kw, 1, now=self.now, exclude=trip.tried
            )
        if not picks:  # as ChargeRouter._charge_once does
            last = balancer.room_for(
                request.amount_kw,
                request.min_amount_kw,
                self.now,
                exclude=trip.looked,
                asked=trip.tried,
            )
            if last is not None:
                trip.looked.add(last)
                picks = [last]
        if not picks:
            self._refused_everywhere(trip)
            return
        if trip.tried:
            self.measure.retries += 1
        key = picks[0]
        trip.tried.append(key)
        balancer.begin(key, request.amount_kw)
        sent_at = self.now
        self.at(self.now + self._leg(), lambda: self._reach(trip, key, sent_at))

    def _leg(self) -> float:
        return self.scenario.latency_s / 2 * self.rng.uniform(0.5, 1.5)

    def _reach(self, trip: Trip, key: str, sent_at: float) -> None:
        if key in self.down:  # connection refused
            self.at(self.now + self._leg(), lambda: self._answer(trip, key, None, None, sent_at))
            return
        ledger = self.ledgers[key]
        outcome: Session | float
        try:
            session = ledger.admit(trip.request, self.now).session
            self.measure.admitted(session)
            outcome = session
        except NoCapacity as refusal:
            outcome = float(refusal.retry_after_s)
        report = (ledger.load_kw, ledger.capacity_kw, (ledger.epoch, ledger.version))
        self.at(self.now + self._leg(), lambda: self._answer(trip, key, outcome, report, sent_at))

    def _answer(
        self,
        trip: Trip,
        key: str,
        outcome: Session | float | None,
        report: tuple[float, float, tuple[str, int]] | None,
        sent_at: float,
    ) -> None:
        """The answer is back: a session, a refusal's Retry-After, or None (refused connection)."""
        balancer = self.proxies[trip.proxy].balancer
        balancer.end(key, trip.request.amount_kw)
        if report is None:
            balancer.record_health(key, "refused")
        else:
            load_kw, capacity_kw, seq = report
            balancer.record_health(key, "answered")
            balancer.record_report(key, self.now, load_kw, capacity_kw, sent_at, seq)
            if isinstance(outcome, Session):
                balancer.record_booking(key, outcome.ends_at, outcome.granted_kw, self.now)
                self._served(trip)
                return
            assert outcome is not None
            trip.refusals.append(outcome)
        self._try_next(trip)

    def _served(self, trip: Trip) -> None:
        if trip.waiter is not None:
            queue = self.proxies[trip.proxy].queue
            queue.leave(trip.waiter)
            self.measure.waited.append(self.now - trip.waiter.joined_at)
            self._pump_soon(trip.proxy)

    def _refused_everywhere(self, trip: Trip) -> None:
        proxy = self.proxies[trip.proxy]
        retry_after_s = min(trip.refusals, default=1.0)
        if trip.waiter is not None:
            proxy.queue.refused_again(trip.waiter, self.now, retry_after_s)
            self._pump_soon(trip.proxy)
        elif self.scenario.max_wait_s > 0 and trip.refusals:
            trip.waiter = proxy.queue.join(trip, self.now, self.scenario.max_wait_s, retry_after_s)
            self._pump_soon(trip.proxy)
        else:
            self._give_up(trip)

    def _give_up(self, trip: Trip) -> None:
        live = [ledger for name, ledger in self.ledgers.items() if name not in self.down]
        self.measure.rejected(trip.request, live, self.now)

    def _pump_soon(self, number: int) -> None:
        proxy = self.proxies[number]
        when = proxy.queue.next_event_at()
        if when is not None and (proxy.pump_at is None or when < proxy.pump_at):
            proxy.pump_at = max(when, self.now)
            self.at(proxy.pump_at, lambda: self._pump(number))

    def _pump(self, number: int) -> None:
        proxy = self.proxies[number]
        if proxy.pump_at is None or self.now < proxy.pump_at:
            return  # a newer pump is scheduled
        proxy.pump_at = None
        for waiter in proxy.queue.timed_out(self.now):
            self.measure.wait_timeouts += 1
            self._give_up(waiter.item)
        head = proxy.queue.due(self.now)
        if head is not None:
            proxy.queue.take_turn(head)
            self._start(head.item)
        self._pump_soon(number)

    def _poll(self, proxy: SimProxy) -> None:
        for name in self.ledgers:
            self._poll_one(proxy, name)
        interval = self.scenario.poll_interval_s * self.rng.uniform(1 - JITTER, 1 + JITTER)
        self.at(self.now + interval, lambda: self._poll(proxy))

    def _poll_out_of_service(self, proxy: SimProxy) -> None:
        """Between rounds, the substations taken out, as `Poller.poll_out_of_service` does."""
        for view in proxy.balancer.views():
            if view.health not in SERVING:
                self._poll_one(proxy, view.key)
        self.at(self.now + DOWN_POLL_INTERVAL_S, lambda: self._poll_out_of_service(proxy))

    def _poll_one(self, proxy: SimProxy, name: str) -> None:
        if name in self.down:
            proxy.balancer.record_health(name, "refused")  # connection refused
            return
        ledger = self.ledgers[name]
        ledger.expire(self.now)
        proxy.balancer.record_poll(
            name, self.now, load_kw=ledger.load_kw, capacity_kw=ledger.capacity_kw, draining=False
        )

    def _fail(self, name: str) -> None:
        self.down.add(name)
        self.measure.interrupted += len(self.ledgers[name].drop_all())

    def _sample(self) -> None:
        for ledger in self.ledgers.values():
            ledger.expire(self.now)
        self.measure.sample(self.now, self.down)
        self.at(self.now + SAMPLE_INTERVAL_S, self._sample)


def simulate(scenario: Scenario, policy: Policy, seed: int = 0) -> dict[str, Any]:
    return Simulation(scenario, policy, seed).run().summary(scenario)
