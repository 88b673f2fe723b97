"""What a simulation measures (SPEC section 3), sampled every virtual second.

`spread` is the gap in utilization between the most and the least utilized live substation;
`needless_alert_s` counts seconds some substation was over 80 % while the live grid as a whole
was under 80 % (an alert a better balance would not have raised); `overload_s` counts seconds
any substation was over 100 %, which the ledger makes impossible whatever the policy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grid.ledger import Session, SessionLedger
from grid.protocol import ChargeRequest

if TYPE_CHECKING:
    from proxy.simulate.scenario import Scenario

ALERT_UTILIZATION = 0.8
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Trace:
    """What a plot needs of a run: sample times and each substation's utilization then."""

    times: list[float]
    utilization: dict[str, list[float | None]]


@dataclass
class Measurements:
    ledgers: Mapping[str, SessionLedger]
    requests: int = 0
    accepted: int = 0
    curtailed: int = 0
    rejected_count: int = 0
    interrupted: int = 0
    false_reject_times: list[float] = field(default_factory=list)
    # Of those, the ones whose room no request already on its way there would take: a charge
    # given up while another, sent a moment before, is about to take the last room is a race
    # no placement wins (docs/balance-lab.md, the sweep's section).
    unclaimed_reject_times: list[float] = field(default_factory=list)
    retries: int = 0
    room_waits: int = 0  # timed last looks: a refusal said room frees within milliseconds
    wait_timeouts: int = 0
    waited: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    # Utilization of each substation at each sample; None while it is down.
    utilization: dict[str, list[float | None]] = field(default_factory=dict)
    spreads: list[float] = field(default_factory=list)
    needless_alert_s: float = 0.0
    overload_s: float = 0.0
    peak: dict[str, float] = field(default_factory=dict)
    # Admissions after which a substation held more than its capacity (the ledger forbids it).
    overbooked: int = 0
    # Charges that reached a substation while it was down: (time, proxy, substation, asked on
    # a last look). A proxy learns it is down from the first; after that only probes may come.
    asked_while_down: list[tuple[float, int, str, bool]] = field(default_factory=list)

    def asked(self, now: float, proxy: int, substation: str, last_look: bool, down: bool) -> None:
        if down:
            self.asked_while_down.append((now, proxy, substation, last_look))

    def admitted(self, session: Session) -> None:
        if session.curtailed:
            self.curtailed += 1
        else:
            self.accepted += 1
        ledger = self.ledgers[session.substation]
        share = ledger.load_kw / ledger.capacity_kw
        self.peak[ledger.substation] = max(self.peak.get(ledger.substation, 0.0), share)
        if share > 1 + _TOLERANCE:
            self.overbooked += 1

    def rejected(
        self,
        request: ChargeRequest,
        live: list[SessionLedger],
        now: float,
        on_the_way_w: Mapping[str, int],
    ) -> None:
        """A charge given up at `now`; `on_the_way_w`: by substation, the watts of the
        requests sent there and not arrived yet."""
        self.rejected_count += 1
        for ledger in live:
            ledger.expire(now)
        kw = request.amount_kw
        if any(ledger.headroom_kw >= kw for ledger in live):
            self.false_reject_times.append(now)
            if any(
                ledger.headroom_kw - on_the_way_w.get(ledger.substation, 0) * 0.001 >= kw
                for ledger in live
            ):
                self.unclaimed_reject_times.append(now)

    def sample(self, now: float, down: Collection[str]) -> None:
        self.times.append(now)
        live: list[float] = []
        load_kw = capacity_kw = 0.0
        for name, ledger in self.ledgers.items():
            if name in down:
                self.utilization.setdefault(name, []).append(None)
                continue
            share = ledger.load_kw / ledger.capacity_kw
            self.utilization.setdefault(name, []).append(share)
            self.peak[name] = max(self.peak.get(name, 0.0), share)
            live.append(share)
            load_kw, capacity_kw = load_kw + ledger.load_kw, capacity_kw + ledger.capacity_kw
        if not live:
            return
        self.spreads.append(max(live) - min(live))
        grid_share = load_kw / capacity_kw
        if max(live) > ALERT_UTILIZATION and grid_share < ALERT_UTILIZATION:
            self.needless_alert_s += 1
        if max(live) > 1 + _TOLERANCE:
            self.overload_s += 1

    @property
    def false_rejects(self) -> int:
        return len(self.false_reject_times)

    def trace(self) -> Trace:
        return Trace(self.times, self.utilization)

    def summary(self, scenario: Scenario) -> dict[str, Any]:
        spreads = sorted(self.spreads) or [0.0]
        p95 = spreads[min(len(spreads) - 1, int(0.95 * len(spreads)))]
        one_request = scenario.one_request_utilization
        waited = sorted(self.waited)
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "curtailed": self.curtailed,
            "rejected": self.rejected_count,
            "interrupted": self.interrupted,
            "false_rejects": self.false_rejects,
            "false_rejects_unclaimed": len(self.unclaimed_reject_times),
            "retries": self.retries,
            "room_waits": self.room_waits,
            "waited": len(waited),
            "wait_timeouts": self.wait_timeouts,
            "wait_p95_s": round(waited[int(0.95 * (len(waited) - 1))], 3) if waited else 0.0,
            "peak_utilization": {
                spec.name: round(self.peak.get(spec.name, 0.0), 4) for spec in scenario.substations
            },
            "spread_p95": round(p95, 4),
            "max_spread": round(spreads[-1], 4),
            "one_request": round(one_request, 4),
            # Balanced within one request: spread_p95 at most one request, that is at most one
            # sample in twenty over it (60 of a 20-minute run's 1,201).
            "within_one_request": p95 <= one_request + _TOLERANCE,
            "seconds_over_one_request": sum(
                spread > one_request + _TOLERANCE for spread in spreads
            ),
            "needless_alert_s": self.needless_alert_s,
            "overload_s": self.overload_s,
        }
