"""The charge path's async shell: it drives a `ChargeAttempt` (`proxy.attempt`) with real
answers, holds charges that may wait for room, and routes session requests to their owner.

It owns the awaits and the HTTP translation (an upstream answer into an `Answered`), nothing
else: which substation to ask, what an answer teaches and when to give up are the attempt's.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from datetime import datetime

import orjson

from grid.errors import HEADER_ROOM_IN
from grid.protocol import ChargeRequest, load_report_from_headers
from grid.seen import HEADER_PROXY_REF
from proxy.attempt import (
    BROKEN,
    UNREACHABLE,
    Answered,
    Ask,
    ChargeAttempt,
    GiveUp,
    Outcome,
    TimedOut,
    learn_answer,
)
from proxy.balancer import Balancer
from proxy.charge import ProxyCharge
from proxy.directory import SessionDirectory, SessionRoute, owners_to_ask
from proxy.errors import (
    NoCapacity,
    UnknownSession,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from proxy.holding import ChargeHold
from proxy.metrics import ProxyMetrics
from proxy.siblings import Siblings
from proxy.upstream import Upstream, UpstreamAnswer
from proxy.vehicle_line import VehicleLine
from proxy.waiting import may_wait

JSON_HEADERS = {"Content-Type": "application/json"}
# Substations asked at once about a session the proxy has no route for.
ASKED_AT_ONCE = 32

SessionAnswer = UpstreamAnswer | UpstreamUnreachable | UpstreamBroken | UpstreamTimeout


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
        # One charge per vehicle at a time; a later one waits for its turn (a future).
        self.vehicles: VehicleLine[asyncio.Future[None]] = VehicleLine()
        self.hold = ChargeHold(self._charge_once, clock)
        # The other workers of this proxy (`--workers`), told of every booking at once.
        self.siblings: Siblings | None = None

    async def charge(self, charge: ProxyCharge, headers: Mapping[str, str]) -> UpstreamAnswer:
        vehicle_id = charge.request.vehicle_id
        await self._take_turn(vehicle_id)
        headers = {**JSON_HEADERS, **headers}
        if self.balancer.ref is not None:  # the substation counts what it took from each worker
            headers[HEADER_PROXY_REF] = self.balancer.ref
        try:
            return await self._charge_once(charge.request, headers)
        except NoCapacity as refusal:
            if not may_wait(refusal, charge.max_wait_s):
                raise
            return await self.hold.hold(charge, headers, refusal)
        finally:
            self._pass_turn(vehicle_id)

    async def _take_turn(self, vehicle_id: str) -> None:
        if not self.vehicles.busy(vehicle_id):
            self.vehicles.start(vehicle_id)
            return
        # A future only when a second charge comes for a vehicle, never on the common path.
        turn = asyncio.get_running_loop().create_future()
        self.vehicles.wait(vehicle_id, turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._pass_turn(vehicle_id)  # handed the turn as the client hung up
            else:
                self.vehicles.withdraw(vehicle_id, turn)
            raise

    def _pass_turn(self, vehicle_id: str) -> None:
        following = self.vehicles.finish(vehicle_id)
        while following is not None and following.done():  # its waiter is gone: the next
            following = self.vehicles.finish(vehicle_id)
        if following is not None:
            following.set_result(None)

    async def _charge_once(
        self, request: ChargeRequest, headers: Mapping[str, str]
    ) -> UpstreamAnswer:
        """One `ChargeAttempt`, driven with real answers."""
        attempt = ChargeAttempt(request, self.balancer, self.directory, self.retries)
        siblings = self.siblings
        if siblings is not None:
            siblings.hear(self.clock())
        step = attempt.start(self.clock())
        answer: UpstreamAnswer | None = None
        try:
            while isinstance(step, Ask):
                if siblings is not None:
                    siblings.asked(step)
                if step.retry:
                    self.metrics.count_retry()
                if step.at > self.clock():  # a timed last look: room frees there by then
                    await asyncio.sleep(step.at - self.clock())
                answer, outcome = await self._ask(step.substation, request, headers)
                asked = step.substation
                if siblings is not None:
                    siblings.hear(self.clock())
                step = attempt.take(outcome, self.clock())
                if siblings is not None:
                    siblings.answered(asked, outcome)
        finally:
            attempt.abandon()
            if siblings is not None and isinstance(step, Ask):  # the client hung up meanwhile
                siblings.tell(step.substation)
        if isinstance(step, GiveUp):
            raise step.error
        assert answer is not None
        return answer

    async def _ask(
        self, key: str, request: ChargeRequest, headers: Mapping[str, str]
    ) -> tuple[UpstreamAnswer | None, Outcome]:
        try:
            answer = await self.upstream.send(
                "POST", f"{key}/charge", request.substation_body(), headers
            )
        except UpstreamUnreachable:
            return None, UNREACHABLE
        except UpstreamBroken:
            return None, BROKEN
        except UpstreamTimeout as error:
            return None, TimedOut(error.detail)
        return answer, answered(key, answer)

    async def session_request(self, method: str, session_id: str) -> UpstreamAnswer:
        """`GET` or `DELETE /charge/{session_id}` at the substation that owns the session."""
        route = self.directory.for_session(session_id, self.clock())
        if route is not None:
            answers = [await self._ask_about_session(method, route.substation, session_id)]
        else:
            owners = owners_to_ask(session_id, self.balancer.views())
            answers = await self._ask_in_batches(method, session_id, owners)
        found = [a for a in answers if isinstance(a, UpstreamAnswer) and a.status != 404]
        if not found:
            # A substation not reached may hold it: not known to be gone, so not forgotten.
            unreached = [a for a in answers if not isinstance(a, UpstreamAnswer)]
            if unreached:
                raise unreached[0]
            self.directory.ended(session_id)
            raise UnknownSession(f"no active session {session_id}")
        if method == "DELETE":
            self.directory.ended(session_id)
            self.hold.power_freed()
        return found[0]

    async def _ask_in_batches(
        self, method: str, session_id: str, keys: list[str]
    ) -> list[SessionAnswer]:
        """A session with no route here (booked through another proxy, or before this one
        started): the substations that may hold it (`owners_to_ask`: its owner alone, but for
        ids from before tags) asked `ASKED_AT_ONCE` at a time, until one has it. All at once,
        a city's thousand substations were a thousand requests for one `GET`."""
        answers: list[SessionAnswer] = []
        for first in range(0, len(keys), ASKED_AT_ONCE):
            batch = keys[first : first + ASKED_AT_ONCE]
            answers += await asyncio.gather(
                *(self._ask_about_session(method, key, session_id) for key in batch)
            )
            if any(isinstance(a, UpstreamAnswer) and a.status != 404 for a in answers):
                break
        return answers

    async def _ask_about_session(self, method: str, key: str, session_id: str) -> SessionAnswer:
        sent_at = self.clock()
        try:
            answer = await self.upstream.send(method, f"{key}/charge/{session_id}", None, {})
        except (UpstreamUnreachable, UpstreamBroken, UpstreamTimeout) as failure:
            return failure
        learn_answer(
            self.balancer, self.directory, key, answered(key, answer), sent_at, self.clock()
        )
        return answer


def answered(key: str, answer: UpstreamAnswer) -> Answered:
    """An upstream answer as the attempt takes it: status, load report, session, Retry-After."""
    session = session_route(key, answer.body) if answer.status in (200, 201) else None
    retry_after_s, room_in_s = 1.0, None
    if answer.status == 503:
        try:
            retry_after_s = float(answer.headers.get("Retry-After", "1"))
        except ValueError:
            retry_after_s = 1.0
        room_in_s = seconds_or_none(answer.headers.get(HEADER_ROOM_IN))
    report = load_report_from_headers(answer.headers)
    return Answered(answer.status, report, session, retry_after_s, room_in_s)


def seconds_or_none(text: str | None) -> float | None:
    """A header's seconds, if it holds a finite number of them that is not negative."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if 0.0 <= seconds < math.inf else None


def session_route(key: str, body: bytes) -> SessionRoute | None:
    try:
        # orjson (already aioprometheus' own): a third of the standard decoder's time on a
        # session. A substation's answer is ours; the driver's body keeps the standard decoder,
        # which refuses a field given twice (docs/performance.md).
        session = orjson.loads(body)
        return SessionRoute(
            session_id=str(session["session_id"]),
            vehicle_id=str(session["vehicle_id"]),
            substation=key,
            ends_at=datetime.fromisoformat(session["ends_at"]).timestamp(),
            granted_kw=float(session["granted_kw"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
