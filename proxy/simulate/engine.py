"""Discrete events in virtual time, driving the proxy's own charge path and the real ledger.

Each simulated proxy is what a real one is, without sockets: its own `Balancer` and
`SessionDirectory`, a `ChargeAttempt` per charge (`proxy.attempt`), a `WaitQueue` served by
`next_turn`, and a `PollSchedule` with `take_poll` (`proxy.polling`); with `workers` > 1,
each proxy is that many such balancers, telling each other through a real `SiblingBoard`
(`proxy.siblings`). Substations are real `SessionLedger`s. This module keeps only what is
simulated: the event queue, the network (half a round trip each way, jittered; a failed
substation refuses connections and its sessions end at once, counted as interrupted) and the
measurements. No rule of the charge path is here.
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from grid.errors import NoCapacity
from grid.ledger import Session, SessionLedger
from grid.protocol import ChargeRequest
from grid.seen import ChargesSeen, proxy_ref, watts
from proxy.attempt import (
    UNREACHABLE,
    Answered,
    Ask,
    ChargeAttempt,
    Finished,
    GiveUp,
    Outcome,
    Step,
)
from proxy.balancer import Balancer, Policy
from proxy.config import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_DOWN_POLL_INTERVAL_S,
    DEFAULT_RETRIES,
    DEFAULT_UPSTREAM_TIMEOUT_S,
)
from proxy.directory import SessionDirectory, SessionRoute
from proxy.polling import (
    MetricsReading,
    PollRefused,
    PollResult,
    PollSchedule,
    keys_to_poll,
    take_poll,
    wakes_waiters,
)
from proxy.shard import Shard, worker_shard
from proxy.siblings import SiblingBoard, SiblingLink, Siblings
from proxy.simulate.demand import draw_demand
from proxy.simulate.measure import Measurements
from proxy.simulate.scenario import Scenario
from proxy.simulate.streams import SimulatedStreams
from proxy.vehicle_line import VehicleLine
from proxy.waiting import Waiter, WaitQueue, may_wait

# The proxy's defaults.
RETRIES = DEFAULT_RETRIES
DOWN_POLL_INTERVAL_S = DEFAULT_DOWN_POLL_INTERVAL_S
LONGEST_REQUEST_S = DEFAULT_CONNECT_TIMEOUT_S + DEFAULT_UPSTREAM_TIMEOUT_S
SAMPLE_INTERVAL_S = 1.0


@dataclass(slots=True, eq=False)
class Trip:
    """One charge request on its way through one proxy."""

    request: ChargeRequest
    proxy: int
    attempt: ChargeAttempt | None = None
    waiter: Waiter[Trip] | None = None


@dataclass(slots=True)
class SimProxy:
    """One balancer: a proxy, or one worker of a proxy with `workers` > 1."""

    balancer: Balancer
    schedule: PollSchedule
    directory: SessionDirectory = field(default_factory=SessionDirectory)
    queue: WaitQueue[Trip] = field(default_factory=WaitQueue)
    vehicles: VehicleLine[Trip] = field(default_factory=VehicleLine)
    pump_at: float | None = None
    siblings: Siblings | None = None  # the other workers of its proxy, told through memory


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        seed: int,
        burst: Sequence[ChargeRequest] | None = None,
    ) -> None:
        """`burst`: the requests of the scenario's burst, to replay what a real run sent
        (else `scenario.burst` requests drawn from the scenario's ranges)."""
        self.scenario = scenario
        # Each thing drawn at random has its own stream, so that what one policy does (a
        # retry, a probe, a poll) moves no other draw: the demand, the network's delays, each
        # proxy's poll jitter. The balancers' and the load streams' are their own too.
        self.demand = draw_demand(scenario, seed, burst)
        self._network = random.Random(f"network-{seed}")
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
        # What each substation took from each proxy worker that names its charges.
        self.seen = {spec.name: ChargesSeen() for spec in scenario.substations}
        self.proxies = [
            self._balancer_of(policy, seed, number, worker)
            for number in range(scenario.proxies)
            for worker in range(scenario.workers)
        ]
        if scenario.workers > 1 and scenario.share_bookings:
            self._link_workers()
        self.measure = Measurements(self.ledgers)
        self.streams = (
            SimulatedStreams(self, scenario.report_interval_s, random.Random(f"stream-{seed}"))
            if scenario.load_stream
            else None
        )
        # Watts of the requests sent to each substation and not arrived yet (`Measurements`):
        # whole watts, so that what arrives takes off exactly what was sent.
        self.on_the_way_w: dict[str, int] = {}
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def _balancer_of(self, policy: Policy, seed: int, number: int, worker: int) -> SimProxy:
        """Proxy `number`'s worker `worker`, with the shard `--workers` would give it."""
        scenario = self.scenario
        shard = Shard(number, scenario.proxies) if scenario.shards else None
        if scenario.workers > 1:
            shard = worker_shard(shard, worker, scenario.workers, scenario.share_bookings)
        # The first worker's random source is the proxy's as it was before workers were
        # modelled, so runs of one worker a proxy draw as they did.
        rng = random.Random(seed * 1000 + number + 100_000 * worker)
        # Named as `python -m proxy` names its workers' charges (`X-Proxy-Ref`, `grid.seen`).
        ref = proxy_ref(_proxy_name(number), worker)
        balancer = Balancer(policy=policy, rng=rng, tuning=scenario.headroom, shard=shard, ref=ref)
        polls = random.Random(f"polls-{seed}-{number}-{worker}")
        schedule = PollSchedule(scenario.poll_interval_s, DOWN_POLL_INTERVAL_S, polls, now=0.0)
        return SimProxy(balancer, schedule)

    def _link_workers(self) -> None:
        """The workers of each proxy share a board, as `python -m proxy --workers N` makes."""
        workers, context = self.scenario.workers, multiprocessing.get_context("spawn")
        for number in range(self.scenario.proxies):
            board = SiblingBoard(context, workers, proxy=_proxy_name(number))
            for worker in range(workers):
                proxy = self.proxies[number * workers + worker]
                link = SiblingLink(board, worker)
                proxy.siblings = Siblings(link, proxy.balancer, silent_after_s=LONGEST_REQUEST_S)

    def run(self) -> Measurements:
        for number, proxy in enumerate(self.proxies):
            proxy.balancer.set_substations(self.ledgers)
            # A proxy starts knowing every capacity, as the real one does.
            self._poll_keys(proxy, keys_to_poll(proxy.balancer, "round"))
            self.at(proxy.schedule.wake_at(0.0), partial(self._poll, number))
        if self.streams is not None:
            self.streams.start()
        self._schedule_arrivals()
        for failure in self.scenario.failures:
            self.at(failure.at_s, partial(self._fail, failure.substation))
            self.at(failure.until_s, partial(self._return, failure.substation))
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
        for number, arrival in enumerate(self.demand):
            self.at(arrival.at_s, partial(self._arrive_with, number, arrival.request))

    def _arrive_with(self, number: int, request: ChargeRequest) -> None:
        self.measure.requests += 1
        # The proxies take arrivals in turn; a proxy's workers take its arrivals in turn too
        # (the kernel spreads connections over them).
        proxies, workers = self.scenario.proxies, self.scenario.workers
        trip = Trip(request, (number % proxies) * workers + (number // proxies) % workers)
        vehicles = self.proxies[trip.proxy].vehicles
        if vehicles.busy(request.vehicle_id):
            vehicles.wait(request.vehicle_id, trip)  # its turn comes in `_done`
        else:
            vehicles.start(request.vehicle_id)
            self._start(trip)

    def _start(self, trip: Trip) -> None:
        proxy = self.proxies[trip.proxy]
        trip.attempt = ChargeAttempt(trip.request, proxy.balancer, proxy.directory, RETRIES)
        if proxy.siblings is not None:
            proxy.siblings.hear(self.now)
        step = trip.attempt.start(self.now)
        if proxy.siblings is not None:
            proxy.siblings.asked(step)
        self._follow(trip, step)

    def _follow(self, trip: Trip, step: Step) -> None:
        if isinstance(step, Ask):
            if step.retry:
                self.measure.retries += 1
            if step.at > self.now:
                self.measure.room_waits += 1
            sent_w = watts(trip.request.amount_kw)
            self.on_the_way_w[step.substation] = self.on_the_way_w.get(step.substation, 0) + sent_w
            self.at(max(step.at, self.now) + self._leg(), partial(self._reach, trip, step))
        elif isinstance(step, Finished):
            self._served(trip)
        else:
            self._refused_everywhere(trip, step)

    def _leg(self) -> float:
        return self.scenario.latency_s / 2 * self._network.uniform(0.5, 1.5)

    def _reach(self, trip: Trip, step: Ask) -> None:
        """The charge is at the substation: its ledger decides, the answer starts back."""
        key = step.substation
        self.on_the_way_w[key] -= watts(trip.request.amount_kw)
        self.measure.asked(self.now, trip.proxy, key, step.last_look, key in self.down)
        outcome: Outcome = UNREACHABLE  # a failed substation refuses connections
        if key not in self.down:
            ref = self.proxies[trip.proxy].balancer.ref  # X-Proxy-Ref
            self.seen[key].count(ref, trip.request.amount_kw)
            outcome = self._admit(self.ledgers[key], trip.request, ref)
        self.at(self.now + self._leg(), partial(self._answer, trip, outcome, key))

    def _admit(self, ledger: SessionLedger, request: ChargeRequest, ref: str | None) -> Answered:
        seen = self.seen[ledger.substation].of_proxy(ref)
        try:
            admission = ledger.admit(request, self.now)
        except NoCapacity as refusal:
            report = ledger.report(seen)
            retry_after_s = float(refusal.retry_after_s)
            return Answered(503, report, retry_after_s=retry_after_s, room_in_s=refusal.room_in_s)
        if admission.created:
            self.measure.admitted(admission.session)
            if self.streams is not None:
                self.streams.booked(ledger, ref, admission.session)
                ends_at = admission.session.ends_at
                self.at(ends_at, partial(self.streams.changed, ledger.substation))
        route = _route(admission.session)
        return Answered(201 if admission.created else 200, ledger.report(seen), route)

    def _answer(self, trip: Trip, outcome: Outcome, key: str) -> None:
        assert trip.attempt is not None
        siblings = self.proxies[trip.proxy].siblings
        if siblings is not None:
            siblings.hear(self.now)
        step = trip.attempt.take(outcome, self.now)
        if siblings is not None:
            siblings.answered(key, outcome)
            siblings.asked(step)
        self._follow(trip, step)

    def _served(self, trip: Trip) -> None:
        if trip.waiter is not None:
            self.proxies[trip.proxy].queue.turn_ended(trip.waiter, self.now, None)
            self.measure.waited.append(self.now - trip.waiter.joined_at)
            self._pump_soon(trip.proxy)
        self._done(trip)

    def _done(self, trip: Trip) -> None:
        """The charge is answered: the vehicle's next charge at this proxy, if any, goes."""
        following = self.proxies[trip.proxy].vehicles.finish(trip.request.vehicle_id)
        if following is not None:
            self._start(following)

    def _refused_everywhere(self, trip: Trip, step: GiveUp) -> None:
        queue = self.proxies[trip.proxy].queue
        refusal = step.error if isinstance(step.error, NoCapacity) else None
        if trip.waiter is not None:
            retry_after_s = None if refusal is None else float(refusal.retry_after_s)
            queue.turn_ended(trip.waiter, self.now, retry_after_s)
            if refusal is None:
                self._give_up(trip)
        elif refusal is not None and may_wait(refusal, self.scenario.max_wait_s):
            retry_after_s = float(refusal.retry_after_s)
            trip.waiter = queue.join(trip, self.now, self.scenario.max_wait_s, retry_after_s)
        else:
            self._give_up(trip)
        self._pump_soon(trip.proxy)

    def _give_up(self, trip: Trip) -> None:
        live = [ledger for name, ledger in self.ledgers.items() if name not in self.down]
        self.measure.rejected(trip.request, live, self.now, self.on_the_way_w)
        self._done(trip)

    def _pump_soon(self, number: int) -> None:
        proxy = self.proxies[number]
        when = proxy.queue.next_event_at()
        if when is not None and (proxy.pump_at is None or when < proxy.pump_at):
            proxy.pump_at = max(when, self.now)
            self.at(proxy.pump_at, partial(self._pump, number))

    def _pump(self, number: int) -> None:
        """Serve the proxy's wait queue, as its `ChargeHold` does."""
        proxy = self.proxies[number]
        if proxy.pump_at is None or self.now < proxy.pump_at:
            return  # a newer pump is scheduled
        proxy.pump_at = None
        turn = proxy.queue.next_turn(self.now)
        for waiter in turn.late:
            self.measure.wait_timeouts += 1
            self._give_up(waiter.item)
        if turn.head is not None:
            self._start(turn.head.item)
        self._pump_soon(number)

    def _poll(self, number: int) -> None:
        """Poll as the proxy's `Poller` does, when its `PollSchedule` says."""
        proxy = self.proxies[number]
        kind = proxy.schedule.due(self.now)
        keys = keys_to_poll(proxy.balancer, kind)
        self._poll_keys(proxy, keys)
        if wakes_waiters(kind, keys):
            proxy.queue.power_freed(self.now)
            self._pump_soon(number)
        self.at(proxy.schedule.wake_at(self.now), partial(self._poll, number))

    def _poll_keys(self, proxy: SimProxy, keys: list[str]) -> None:
        for key in keys:
            result: PollResult = PollRefused()  # a failed substation refuses connections
            if key not in self.down:
                ledger = self.ledgers[key]
                ledger.expire(self.now)
                # With the report its answer carries (`substation.app.get_metrics`).
                seq = (ledger.epoch, ledger.version)
                seen = self.seen[key].of_proxy(proxy.balancer.ref)
                result = MetricsReading(None, ledger.load_kw, ledger.capacity_kw, False, seq, seen)
            take_poll(proxy.balancer, key, result, self.now, self.now)

    def _fail(self, name: str) -> None:
        self.down.add(name)
        self.measure.interrupted += len(self.ledgers[name].drop_all())
        if self.streams is not None:
            self.streams.failed(name)

    def _return(self, name: str) -> None:
        self.down.discard(name)
        if self.streams is not None:
            self.streams.returned(name)

    def _sample(self) -> None:
        for ledger in self.ledgers.values():
            ledger.expire(self.now)
        self.measure.sample(self.now, self.down)
        self.at(self.now + SAMPLE_INTERVAL_S, self._sample)


def simulate(scenario: Scenario, policy: Policy, seed: int = 0) -> dict[str, Any]:
    return Simulation(scenario, policy, seed).run().summary(scenario)


def _route(session: Session) -> SessionRoute:
    return SessionRoute(
        session.session_id,
        session.vehicle_id,
        session.substation,
        session.ends_at,
        session.granted_kw,
    )


def _proxy_name(number: int) -> str:
    """Proxy `number`'s name, its workers' and its board's alike (random in `python -m proxy`;
    here fixed, so that runs repeat)."""
    return f"{number:x}"
