"""The charge path: ask the balancer, forward to a substation, learn from its answer, retry.

This is the async shell around the pure parts (`Balancer`, `SessionDirectory`): it owns the
awaits and nothing else. Between choosing a substation and counting the request as in flight
there is no await, so concurrent requests always see each other's pending kW.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime

from grid.protocol import (
    HEADER_CAPACITY_KW,
    HEADER_LOAD_KW,
    HEADER_LOAD_SEQ,
    ChargeRequest,
    parse_load_seq,
)
from proxy.balancer import Balancer
from proxy.charge import ProxyCharge
from proxy.directory import SessionDirectory, SessionRoute
from proxy.errors import (
    NoCapacity,
    NoHealthySubstation,
    UnknownSession,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from proxy.holding import ChargeHold
from proxy.metrics import ProxyMetrics
from proxy.upstream import Upstream, UpstreamAnswer

JSON_HEADERS = {"Content-Type": "application/json"}


class ChargeRouter:
    def __init__(
        self,
        balancer: Balancer,
        upstream: Upstream,
        metrics: ProxyMetrics,
        clock: Callable[[], float],
        retries: int,
    ) -> None:
        self.balancer = balancer
        self.upstream = upstream
        self.metrics = metrics
        self.clock = clock
        self.retries = retries
        self.directory = SessionDirectory()
        # One request per vehicle at a time: a second one waits for the first to finish, then
        # is sent where the first booked, which answers with the same session. The value is the
        # future the later ones wait on, None while nobody waits.
        self._vehicles_in_flight: dict[str, asyncio.Future[None] | None] = {}
        self.hold = ChargeHold(self._charge_once, clock)

    async def charge(self, charge: ProxyCharge, headers: Mapping[str, str]) -> UpstreamAnswer:
        request = charge.request
        vehicle_id = request.vehicle_id
        in_flight = self._vehicles_in_flight
        while vehicle_id in in_flight:
            # Made only when a second request comes for a vehicle, never on the common path.
            earlier = in_flight[vehicle_id]
            if earlier is None:
                earlier = in_flight[vehicle_id] = asyncio.get_running_loop().create_future()
            await asyncio.shield(earlier)
        in_flight[vehicle_id] = None
        headers = {**JSON_HEADERS, **headers}
        try:
            return await self._charge_once(request, headers)
        except NoCapacity as refusal:
            if charge.max_wait_s <= 0:
                raise
            return await self.hold.hold(charge, headers, refusal)
        finally:
            finished = in_flight.pop(vehicle_id)
            if finished is not None:
                finished.set_result(None)

    async def _charge_once(
        self, request: ChargeRequest, headers: Mapping[str, str]
    ) -> UpstreamAnswer:
        tried: list[str] = []
        refusals: list[NoCapacity] = []
        looked: set[str] = set()  # asked on a last look: once each
        while True:
            key = self._next_candidate(request, tried) if len(tried) <= self.retries else None
            if key is None:
                # Refused everywhere asked (or nowhere to ask), but sessions may have ended
                # during those round trips, or a substation taken out be back: a last look.
                key = self.balancer.room_for(
                    request.amount_kw,
                    request.min_amount_kw,
                    now=self.clock(),
                    exclude=looked,
                    asked=tried,
                )
                if key is None:
                    break
                looked.add(key)
            if tried:
                self.metrics.count_retry()
            tried.append(key)
            try:
                answer = await self._forward_charge(key, request, headers)
            except (UpstreamUnreachable, UpstreamBroken):
                # Broken off before any answer: the substation crashed or reset. Trying the
                # next one can leave a session booked on the crashed one if it wrote it in its
                # last instant; that power is reserved, never exceeded, and ends on time. A
                # 5xx to the driver while others have room would be worse.
                continue
            refusal = as_refusal(answer)
            if refusal is None:
                return answer
            refusals.append(refusal)
        if not refusals:
            raise NoHealthySubstation("no substation is up and taking charges")
        soonest = min(refusals, key=lambda refusal: refusal.retry_after_s)
        raise NoCapacity(
            f"{len(refusals)} substation(s) asked had no room for {request.min_amount_kw:g} kW",
            retry_after_s=soonest.retry_after_s,
            headroom_kw=None,
        )

    def _next_candidate(self, request: ChargeRequest, tried: list[str]) -> str | None:
        """The vehicle's own substation first if it charges somewhere, else the balancer's pick."""
        now = self.clock()
        route = self.directory.for_vehicle(request.vehicle_id, now)
        if not tried and route is not None and self.balancer.has(route.substation):
            return route.substation
        picks = self.balancer.choose(
            request.amount_kw, request.min_amount_kw, 1, now=now, exclude=tried
        )
        return picks[0] if picks else None

    async def _forward_charge(
        self, key: str, request: ChargeRequest, headers: Mapping[str, str]
    ) -> UpstreamAnswer:
        self.balancer.begin(key, request.amount_kw)
        sent_at = self.clock()
        try:
            answer = await self.upstream.send(
                "POST", f"{key}/charge", request.substation_body(), headers
            )
        except UpstreamUnreachable:
            self.balancer.record_health(key, "refused")
            raise
        except (UpstreamTimeout, UpstreamBroken):
            self.balancer.record_health(key, "timed_out")
            raise
        finally:
            self.balancer.end(key, request.amount_kw)
        self._learn(key, answer, sent_at)
        return answer

    async def session_request(self, method: str, session_id: str) -> UpstreamAnswer:
        """`GET` or `DELETE /charge/{session_id}` at the substation that owns the session."""
        route = self.directory.for_session(session_id, self.clock())
        keys = [route.substation] if route else [view.key for view in self.balancer.views()]
        answers = await asyncio.gather(
            *(self._ask_about_session(method, key, session_id) for key in keys)
        )
        found = [answer for answer in answers if answer is not None and answer.status != 404]
        if not found:
            self.directory.forget(session_id)
            raise UnknownSession(f"no active session {session_id}")
        if method == "DELETE":
            self.directory.forget(session_id)
            self.hold.power_freed()
        return found[0]

    async def _ask_about_session(
        self, method: str, key: str, session_id: str
    ) -> UpstreamAnswer | None:
        sent_at = self.clock()
        try:
            answer = await self.upstream.send(method, f"{key}/charge/{session_id}", None, {})
        except (UpstreamUnreachable, UpstreamBroken, UpstreamTimeout):
            return None
        self._learn(key, answer, sent_at)
        return answer

    def _learn(self, key: str, answer: UpstreamAnswer, sent_at: float) -> None:
        """Take the load report every answer carries, and the session if it is one."""
        now = self.clock()
        self.balancer.record_health(key, "answered")
        load, capacity = answer.headers.get(HEADER_LOAD_KW), answer.headers.get(HEADER_CAPACITY_KW)
        if load is not None and capacity is not None:
            # A malformed report teaches nothing; the next poll will tell.
            with contextlib.suppress(ValueError):
                self.balancer.record_report(
                    key,
                    now,
                    float(load),
                    float(capacity),
                    sent_at,
                    parse_load_seq(answer.headers.get(HEADER_LOAD_SEQ)),
                )
        if answer.status in (200, 201):
            route = session_route(key, answer.body)
            if route is not None:
                self.directory.remember(route, now)
                if answer.status == 201:
                    self.balancer.record_booking(key, route.ends_at, route.granted_kw, now)


def as_refusal(answer: UpstreamAnswer) -> NoCapacity | None:
    """The substation's 503 no_capacity as an error, or None for any other answer."""
    if answer.status != 503:
        return None
    try:
        retry_after_s = float(answer.headers.get("Retry-After", "1"))
    except ValueError:
        retry_after_s = 1.0
    return NoCapacity("refused", retry_after_s=retry_after_s, headroom_kw=None)


def session_route(key: str, body: bytes) -> SessionRoute | None:
    try:
        session = json.loads(body)
        return SessionRoute(
            session_id=str(session["session_id"]),
            vehicle_id=str(session["vehicle_id"]),
            substation=key,
            ends_at=datetime.fromisoformat(session["ends_at"]).timestamp(),
            granted_kw=float(session["granted_kw"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
