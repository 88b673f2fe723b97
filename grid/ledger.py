"""The session ledger of one substation: who charges, how much, until when.

It decides admission, curtailment, stops and expiry, and it is the only thing that enforces
the invariant: the granted power of active sessions never exceeds capacity. It owns no clock
(`now` is an argument, seconds since the epoch), no I/O and no asyncio, so the service, the
simulator and the tests all drive the same code.

Power is counted in whole milliwatts so that a thousand additions and removals of 7.4 kW add
up exactly: with floats, the sum drifts and a full substation could seem to have 1e-12 kW left.
Time never runs backwards inside the ledger (a `now` older than one already seen is taken as
that one), so sessions end in the order they started, and a plain deque in that order is the
expiry queue: admission, stop and expiry are O(1) each, at 1,000 sessions or 100,000.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from grid.booked import Booking, Charging
from grid.errors import NoCapacity, UnknownSession
from grid.protocol import ChargeRequest, LoadReport, rfc3339
from grid.session_ids import session_id_maker

Outcome = Literal["accepted", "curtailed", "rejected", "stopped", "expired"]
OUTCOMES: tuple[Outcome, ...] = ("accepted", "curtailed", "rejected", "stopped", "expired")
_MILLIWATTS_PER_KW = 1_000_000


def milliwatts(kw: float) -> int:
    return round(kw * _MILLIWATTS_PER_KW)


def kilowatts(milliwatt_count: int) -> float:
    return milliwatt_count / _MILLIWATTS_PER_KW


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    vehicle_id: str
    substation: str
    requested_kw: float
    granted_kw: float
    started_at: float
    ends_at: float

    def __init__(
        self,
        session_id: str,
        vehicle_id: str,
        substation: str,
        requested_kw: float,
        granted_kw: float,
        started_at: float,
        ends_at: float,
    ) -> None:
        # Written out, not generated: mypyc compiles this one, where the generated one runs
        # interpreted (about 11,000 instructions of a substation's charge; docs/performance.md).
        object.__setattr__(self, "session_id", session_id)
        object.__setattr__(self, "vehicle_id", vehicle_id)
        object.__setattr__(self, "substation", substation)
        object.__setattr__(self, "requested_kw", requested_kw)
        object.__setattr__(self, "granted_kw", granted_kw)
        object.__setattr__(self, "started_at", started_at)
        object.__setattr__(self, "ends_at", ends_at)

    @property
    def curtailed(self) -> bool:
        return self.granted_kw < self.requested_kw

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.ends_at - now)

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "vehicle_id": self.vehicle_id,
            "substation": self.substation,
            "requested_kw": self.requested_kw,
            "granted_kw": self.granted_kw,
            "started_at": rfc3339(self.started_at),
            "ends_at": rfc3339(self.ends_at),
        }


class LedgerListener(Protocol):
    """Told of every session that starts or ends (the substation's SQLite store listens)."""

    def session_started(self, session: Session) -> None: ...

    def sessions_ended(self, sessions: Iterable[Session]) -> None: ...


@dataclass(frozen=True, slots=True)
class Admission:
    session: Session
    created: bool  # False: the vehicle already charged here and got its session back

    def __init__(self, session: Session, created: bool) -> None:
        object.__setattr__(self, "session", session)  # written out, as `Session`'s
        object.__setattr__(self, "created", created)


class SessionLedger:
    def __init__(
        self,
        substation: str,
        capacity_kw: float,
        session_seconds: float,
        new_session_id: Callable[[], str] | None = None,
        listener: LedgerListener | None = None,
    ) -> None:
        self.substation = substation
        self.capacity_kw = capacity_kw
        self.session_seconds = session_seconds
        self.draining = False
        self.outcomes: Counter[Outcome] = Counter({outcome: 0 for outcome in OUTCOMES})
        # By default tagged with this substation's name, so that any proxy can route requests
        # about a session to it (`grid.session_ids`).
        self._new_session_id = new_session_id or session_id_maker(substation)
        self._listener = listener
        self._capacity_mw = milliwatts(capacity_kw)
        self._load_mw = 0
        self._sessions: dict[str, Session] = {}
        self._session_by_vehicle: dict[str, str] = {}
        # Sessions in order of ends_at (time never runs backwards here and every session lasts
        # as long): the expiry queue. A session stopped early stays in it, stale, until its end
        # comes; `_is_active` tells. A dict popped from its front would have to skip the holes
        # it left on every scan, so its cost would grow with the number of sessions.
        self._expiry: deque[Session] = deque()
        self._clock = float("-inf")
        # What orders this ledger's load reports: a count of its changes, and an id of this
        # ledger (a restarted substation starts a new count). Answers to concurrent requests can
        # reach the proxy out of order; the count tells it which report is the newer.
        self.epoch = uuid.uuid4().hex[:12]
        self.version = 0

    @property
    def load_kw(self) -> float:
        return kilowatts(self._load_mw)

    @property
    def headroom_kw(self) -> float:
        return kilowatts(self._capacity_mw - self._load_mw)

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def charging(self, now: float) -> list[Charging]:
        """Each vehicle charging here at `now`, and when its session ends."""
        return [(s.vehicle_id, s.ends_at) for s in self._sessions.values() if s.ends_at > now]

    def report(
        self,
        seen: Mapping[str, int] | None = None,
        booked: tuple[Booking, ...] | None = None,
        vehicles: tuple[Charging, ...] | None = None,
    ) -> LoadReport:
        """The load report as of now: in every answer's headers (with the watts each proxy
        worker asked here, `grid.seen`) and on the load stream (with the sessions booked
        lately and, to a new subscriber, the vehicles charging: `grid.booked`)."""
        seq = (self.epoch, self.version)
        return LoadReport(
            self.substation,
            self.load_kw,
            self.capacity_kw,
            seq,
            self.draining,
            seen,
            booked,
            vehicles,
        )

    def admit(self, request: ChargeRequest, now: float) -> Admission:
        """Book a session for the request, curtailed to the headroom if `min_amount` allows."""
        self.expire(now)
        now = self._clock
        existing_id = self._session_by_vehicle.get(request.vehicle_id)
        if existing_id is not None:
            return Admission(self._sessions[existing_id], created=False)
        if self.draining:
            self.outcomes["rejected"] += 1
            raise NoCapacity(
                f"substation {self.substation} is draining for maintenance",
                retry_after_s=self.session_seconds,
                headroom_kw=0.0,
            )
        headroom_mw = self._capacity_mw - self._load_mw
        granted_mw = min(milliwatts(request.amount_kw), headroom_mw)
        if granted_mw <= 0 or granted_mw < milliwatts(request.min_amount_kw):
            self.outcomes["rejected"] += 1
            raise self._refusal(request, now)
        session = Session(
            session_id=self._new_session_id(),
            vehicle_id=request.vehicle_id,
            substation=self.substation,
            requested_kw=request.amount_kw,
            granted_kw=kilowatts(granted_mw),
            started_at=now,
            ends_at=now + self.session_seconds,
        )
        self._add(session)
        self.outcomes["curtailed" if session.curtailed else "accepted"] += 1
        if self._listener is not None:
            self._listener.session_started(session)
        return Admission(session, created=True)

    def get(self, session_id: str, now: float) -> Session:
        self.expire(now)
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(f"no active session {session_id} at {self.substation}")
        return session

    def stop(self, session_id: str, now: float) -> Session:
        """End a session early; its power is free at once."""
        session = self.get(session_id, now)
        self._remove(session)
        self.outcomes["stopped"] += 1
        if self._listener is not None:
            self._listener.sessions_ended([session])
        return session

    def expire(self, now: float) -> list[Session]:
        """End every session whose time is up; return them."""
        now = self._advance(now)
        ended: list[Session] = []
        expiry = self._expiry
        while expiry and expiry[0].ends_at <= now:
            session = expiry.popleft()
            if self._is_active(session):
                self._remove(session)
                ended.append(session)
        self.outcomes["expired"] += len(ended)
        if ended and self._listener is not None:
            self._listener.sessions_ended(ended)
        return ended

    def next_expiry_at(self) -> float | None:
        expiry = self._expiry
        while expiry and not self._is_active(expiry[0]):
            expiry.popleft()
        return expiry[0].ends_at if expiry else None

    def restore(self, sessions: Iterable[Session], now: float) -> None:
        """Take back sessions kept across a restart; those that ended meanwhile stay ended.

        Call it on a new ledger, before any admission. Sessions are taken as they are, even
        beyond today's capacity: the cars are still drawing that power.
        """
        for session in sorted(sessions, key=lambda kept: kept.ends_at):
            if session.ends_at > now and session.vehicle_id not in self._session_by_vehicle:
                self._add(session)
        self._advance(now)

    def drop_all(self) -> list[Session]:
        """End every session at once (the simulator's failed substation); return them."""
        dropped = list(self._sessions.values())
        for session in dropped:
            self._remove(session)
        self._expiry.clear()
        if dropped and self._listener is not None:
            self._listener.sessions_ended(dropped)
        return dropped

    def _refusal(self, request: ChargeRequest, now: float) -> NoCapacity:
        needed_mw = milliwatts(request.min_amount_kw)
        free_mw = self._capacity_mw - self._load_mw
        wait_s = self.session_seconds
        for session in self._expiry:
            if free_mw >= needed_mw:
                break
            if not self._is_active(session):
                continue
            free_mw += milliwatts(session.granted_kw)
            wait_s = session.ends_at - now
        room_in_s: float | None = None  # when its sessions' ends alone make room, to the ms
        if needed_mw > self._capacity_mw:
            detail = f"{request.min_amount_kw:g} kW is more than {self.substation}'s capacity"
        else:
            detail = f"{self.substation} has {self.headroom_kw:g} kW free"
            if free_mw >= needed_mw:
                room_in_s = wait_s
        return NoCapacity(
            detail, retry_after_s=wait_s, headroom_kw=self.headroom_kw, room_in_s=room_in_s
        )

    def _advance(self, now: float) -> float:
        self._clock = max(self._clock, now)
        return self._clock

    def _is_active(self, session: Session) -> bool:
        return self._sessions.get(session.session_id) is session

    def _add(self, session: Session) -> None:
        self.version += 1
        self._expiry.append(session)
        self._sessions[session.session_id] = session
        self._session_by_vehicle[session.vehicle_id] = session.session_id
        self._load_mw += milliwatts(session.granted_kw)

    def _remove(self, session: Session) -> None:
        self.version += 1
        del self._sessions[session.session_id]
        del self._session_by_vehicle[session.vehicle_id]
        self._load_mw -= milliwatts(session.granted_kw)
