"""The substation's Prometheus metrics (SPEC section 1), the only module that knows aioprometheus.

Gauges are read from the ledger when Prometheus scrapes, so they cannot disagree with it; the
outcome counter mirrors the ledger's own tally. Every outcome label exists from the start, so
`rate()` has a series before the first refusal.
"""

from __future__ import annotations

from aioprometheus.collectors import Counter, Gauge, Registry
from aioprometheus.renderer import render

from grid.ledger import SessionLedger


class SubstationMetrics:
    def __init__(self, ledger: SessionLedger) -> None:
        self._ledger = ledger
        self.registry = Registry()
        labels = {"substation": ledger.substation}
        self._load = Gauge(
            "current_load", "Granted power of active sessions, kW", labels, self.registry
        )
        self._capacity = Gauge(
            "substation_capacity_kw", "Most power the substation grants, kW", labels, self.registry
        )
        self._active = Gauge(
            "substation_active_sessions", "Charging sessions now running", labels, self.registry
        )
        self._draining = Gauge(
            "substation_draining", "1 while draining for maintenance", labels, self.registry
        )
        self._sessions = Counter(
            "substation_sessions_total", "Charging sessions by outcome", labels, self.registry
        )

    def render(self, accept_headers: list[str]) -> tuple[bytes, dict[str, str]]:
        ledger = self._ledger
        self._load.set({}, ledger.load_kw)
        self._capacity.set({}, ledger.capacity_kw)
        self._active.set({}, ledger.active_sessions)
        self._draining.set({}, int(ledger.draining))
        for outcome, count in ledger.outcomes.items():
            self._sessions.set({"outcome": outcome}, count)
        body, headers = render(self.registry, accept_headers)
        return body, dict(headers)
