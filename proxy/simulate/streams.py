"""The load stream in virtual time: each substation's report reaches every simulated proxy
(half a round trip later) at once on subscribe and after each change of its ledger, at most one
per `report_interval_s`, with the sessions it booked lately (`grid.booked`, unless
the scenario's `stream_bookings` is off); a failed substation's streams break (each proxy takes
it out half a round trip later) and are reconnected after the return, within the proxy's
backoff bound.

What the proxy does with a report or a break is the proxy's own code
(`learn_stream_report`, `Balancer.record_stream_dropped`); only delivery is simulated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from grid.booked import RecentBookings, booked_window_s
from grid.ledger import Session, SessionLedger
from grid.protocol import STREAM_HEARTBEAT_S, LoadReport
from proxy.attempt import learn_stream_report

if TYPE_CHECKING:
    from proxy.simulate.engine import Simulation

# The proxy's reconnection backoff is capped at 2 s (`proxy.polling.ReconnectBackoff`): after
# a long failure, it reconnects within that of the substation's return.
RECONNECT_WITHIN_S = 2.0


@dataclass(slots=True)
class _Feed:
    publish_at: float | None = None
    published_at: float = float("-inf")
    subscribers: set[int] = field(default_factory=set)


class SimulatedStreams:
    def __init__(self, simulation: Simulation, interval_s: float, rng: random.Random) -> None:
        """`rng`: the stream's own, so that turning the stream off or on leaves every other
        draw of the run (arrivals, amounts, latencies) as it was."""
        self._sim = simulation
        self._rng = rng
        self._interval_s = interval_s
        self._feeds = {name: _Feed() for name in simulation.ledgers}
        # What each substation booked lately, on every report (`grid.booked`), unless the
        # scenario's `stream_bookings` is off.
        self._booked = (
            {name: RecentBookings(booked_window_s(interval_s)) for name in simulation.ledgers}
            if simulation.scenario.stream_bookings
            else None
        )

    def start(self) -> None:
        """Every proxy subscribes to every substation at 0."""
        for name, feed in self._feeds.items():
            feed.subscribers = set(range(len(self._sim.proxies)))
            self._deliver(name, self._report(name), feed.subscribers)

    def changed(self, name: str) -> None:
        """The ledger changed: publish now, or when the interval since the last allows."""
        feed = self._feeds[name]
        if feed.publish_at is None:
            feed.publish_at = max(self._sim.now, feed.published_at + self._interval_s)
            self._sim.at(feed.publish_at, partial(self._publish, name))

    def booked(self, ledger: SessionLedger, ref: str | None, session: Session) -> None:
        """The ledger booked `session` for proxy worker `ref`: a change, told on the stream."""
        if self._booked is not None:
            booked = self._booked[ledger.substation]
            booked.add(
                ledger.version,
                ref,
                session.granted_kw,
                session.ends_at,
                session.vehicle_id,
                self._sim.now,
            )
        self.changed(ledger.substation)

    def failed(self, name: str) -> None:
        feed, sim = self._feeds[name], self._sim
        dropped, feed.subscribers = feed.subscribers, set()
        for number in dropped:
            balancer = sim.proxies[number].balancer
            sim.at(sim.now + self._leg(), partial(balancer.record_stream_dropped, name))

    def returned(self, name: str) -> None:
        sim = self._sim
        for number in range(len(sim.proxies)):
            reconnect_at = sim.now + self._rng.uniform(0.0, RECONNECT_WITHIN_S)
            sim.at(reconnect_at, partial(self._subscribe, name, number))

    def _subscribe(self, name: str, number: int) -> None:
        if name in self._sim.down:
            return
        self._feeds[name].subscribers.add(number)
        report = self._report(name)
        ledger = self._sim.ledgers[name]
        if charging := tuple(ledger.charging(self._sim.now)):
            # In one report: the service splits them over lines (`VEHICLES_A_LINE`).
            report = ledger.report(report.seen, report.booked, charging)
        self._deliver(name, report, {number})
        # After a reconnection, the heartbeat's report puts it back in service.
        heartbeat_at = self._sim.now + STREAM_HEARTBEAT_S
        self._sim.at(heartbeat_at, partial(self._heartbeat, name, number))

    def _heartbeat(self, name: str, number: int) -> None:
        if number in self._feeds[name].subscribers:
            self._deliver(name, self._report(name), {number})

    def _publish(self, name: str) -> None:
        feed, sim = self._feeds[name], self._sim
        feed.publish_at, feed.published_at = None, sim.now
        if feed.subscribers:
            ledger = sim.ledgers[name]
            ledger.expire(sim.now)
            self._deliver(name, self._report(name), feed.subscribers)

    def _report(self, name: str) -> LoadReport:
        sim = self._sim
        booked = None if self._booked is None else self._booked[name].since(sim.now)
        return sim.ledgers[name].report(sim.seen[name].every(), booked)

    def _deliver(self, name: str, report: LoadReport, subscribers: set[int]) -> None:
        sim = self._sim
        sim.at(sim.now + self._leg(), partial(self._arrive, name, report, frozenset(subscribers)))

    def _leg(self) -> float:
        return self._sim.scenario.latency_s / 2 * self._rng.uniform(0.5, 1.5)

    def _arrive(self, name: str, report: LoadReport, subscribers: frozenset[int]) -> None:
        sim = self._sim
        for number in subscribers:
            proxy = sim.proxies[number]
            learn_stream_report(proxy.balancer, proxy.directory, name, report, sim.now)
