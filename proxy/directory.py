"""Which substation holds which active session, as learned from the answers that passed by.

It lets the proxy send a vehicle that asks again to the substation already charging it (which
answers 200 with the same session: nothing is booked twice) and route `GET`/`DELETE
/charge/{id}` to the owner. A vehicle's route ends with its session; a session's route is kept
`ENDED_ROUTE_KEEP_S` longer, so that a driver's app asking after a session that just ended asks
its substation alone (which answers 404), not every substation of the grid. A session not in
the directory is asked of the substation its id names (`owners_to_ask`). Pure: no I/O, `now`
passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from grid.session_ids import from_before_tags, substation_tag, tag_of
from proxy.view import SubstationView

# Two sessions' length: an app polling its session finds out it ended within that.
ENDED_ROUTE_KEEP_S: Final = 120.0
# One session's end as an answer gives it (RFC 3339, cut to the millisecond) and as the load
# stream does (rounded to it) may differ by this much.
SAME_END_S: Final = 0.002


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
        # Routes replaced stay here, stale, until their end and the time kept after it come.
        # (Session ids are never reused, and one session's end never changes.)
        self._expiry: deque[SessionRoute] = deque()

    def __len__(self) -> int:
        return len(self._by_session)

    def remember(self, route: SessionRoute, now: float) -> None:
        # A vehicle's earlier session keeps its route: it ended (a substation gives a vehicle one
        # session at a time), and its owner is still the one to ask about it.
        self.prune(now)
        self._by_session[route.session_id] = route
        self._by_vehicle[route.vehicle_id] = route
        self._expiry.append(route)

    def remember_vehicle(
        self, vehicle_id: str, substation: str, ends_at: float, now: float
    ) -> None:
        """A session booked for `vehicle_id` at `substation` that only a load stream told of
        (another proxy's or worker's booking; no session id): the vehicle's repeat goes there,
        unless a route of a later end is known already."""
        known = self._by_vehicle.get(vehicle_id)
        if known is not None and known.ends_at >= ends_at - SAME_END_S:
            return
        self.prune(now)
        route = SessionRoute("", vehicle_id, substation, ends_at)
        self._by_vehicle[vehicle_id] = route
        self._expiry.append(route)

    def for_vehicle(self, vehicle_id: str, now: float) -> SessionRoute | None:
        route = self._by_vehicle.get(vehicle_id)
        return route if route is not None and route.ends_at > now else None

    def for_session(self, session_id: str, now: float) -> SessionRoute | None:
        """The owner of the session, if it is active or ended less than `ENDED_ROUTE_KEEP_S`
        ago (only the owner can say which: its answer does)."""
        route = self._by_session.get(session_id)
        return route if route is not None and route.ends_at + ENDED_ROUTE_KEEP_S > now else None

    def ended(self, session_id: str) -> None:
        """The session is over (stopped, or its owner answered that it has no such session):
        its vehicle's next charge is a new one, but requests about it still go to its owner
        until its route's time is up (`prune`)."""
        route = self._by_session.get(session_id)
        if route is not None and self._by_vehicle.get(route.vehicle_id) is route:
            del self._by_vehicle[route.vehicle_id]

    def prune(self, now: float) -> None:
        expiry = self._expiry
        kept_until = now - ENDED_ROUTE_KEEP_S
        while expiry and expiry[0].ends_at <= kept_until:
            self._drop(expiry.popleft())  # a no-op if replaced already

    def _drop(self, route: SessionRoute) -> None:
        if self._by_session.get(route.session_id) is route:
            del self._by_session[route.session_id]
        if self._by_vehicle.get(route.vehicle_id) is route:
            del self._by_vehicle[route.vehicle_id]


def owners_to_ask(session_id: str, views: Iterable[SubstationView]) -> list[str]:
    """The substations (keys) that may hold a session the directory has no route for. Its id
    names its owner by a tag of the owner's name (`grid.session_ids`): those whose name has
    the tag, and those whose name is not known yet (no report yet: a view is named by its
    key until then). An id from before tags: every one. Any other id: none, as no substation
    makes it (a made-up id in a city was a thousand requests, 32 at a time)."""
    tag = tag_of(session_id)
    if tag is None:
        return [view.key for view in views] if from_before_tags(session_id) else []
    return [view.key for view in views if view.name == view.key or substation_tag(view.name) == tag]
