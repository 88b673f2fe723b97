"""Which substation holds which active session, as learned from the answers that passed by.

It lets the proxy send a vehicle that asks again to the substation already charging it (which
answers 200 with the same session: nothing is booked twice) and route `GET`/`DELETE
/charge/{id}` to the owner. Entries end with their session. Pure: no I/O, `now` passed in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionRoute:
    session_id: str
    vehicle_id: str
    substation: str  # the substation's key (base URL)
    ends_at: float
    granted_kw: float = 0.0

    def __init__(
        self,
        session_id: str,
        vehicle_id: str,
        substation: str,
        ends_at: float,
        granted_kw: float = 0.0,
    ) -> None:
        # Written out, not generated: mypyc compiles this one (docs/performance.md, 2026-12-03).
        object.__setattr__(self, "session_id", session_id)
        object.__setattr__(self, "vehicle_id", vehicle_id)
        object.__setattr__(self, "substation", substation)
        object.__setattr__(self, "ends_at", ends_at)
        object.__setattr__(self, "granted_kw", granted_kw)


class SessionDirectory:
    def __init__(self) -> None:
        self._by_session: dict[str, SessionRoute] = {}
        self._by_vehicle: dict[str, SessionRoute] = {}
        # Answers arrive roughly in order of ends_at, so the front holds the first to expire.
        # Routes forgotten or replaced stay here, stale, until their end comes. (Session ids are
        # never reused, and one session's end never changes.)
        self._expiry: deque[SessionRoute] = deque()

    def __len__(self) -> int:
        return len(self._by_session)

    def remember(self, route: SessionRoute, now: float) -> None:
        self.prune(now)
        previous = self._by_vehicle.get(route.vehicle_id)
        if previous is not None and previous.session_id != route.session_id:
            self._by_session.pop(previous.session_id, None)
        self._by_session[route.session_id] = route
        self._by_vehicle[route.vehicle_id] = route
        self._expiry.append(route)

    def for_vehicle(self, vehicle_id: str, now: float) -> SessionRoute | None:
        route = self._by_vehicle.get(vehicle_id)
        return route if route is not None and route.ends_at > now else None

    def for_session(self, session_id: str, now: float) -> SessionRoute | None:
        route = self._by_session.get(session_id)
        return route if route is not None and route.ends_at > now else None

    def forget(self, session_id: str) -> None:
        route = self._by_session.pop(session_id, None)
        if route is not None and self._by_vehicle.get(route.vehicle_id) is route:
            del self._by_vehicle[route.vehicle_id]

    def prune(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0].ends_at <= now:
            self.forget(expiry.popleft().session_id)  # a no-op if forgotten or replaced already
