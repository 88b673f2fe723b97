"""Charges held at the proxy while they wait for room (`max_wait_s`): the async shell of WaitQueue.

One task serves the queue: it sleeps until the head is due (its Retry-After came, or power was
seen freed) or a deadline passes, then lets the head try every substation again. Waiters are
served strictly in arrival order; each handler only awaits its own future.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from grid import background
from grid.protocol import ChargeRequest
from proxy.charge import ProxyCharge
from proxy.errors import ApiError, NoCapacity
from proxy.upstream import UpstreamAnswer
from proxy.waiting import Waiter, WaitQueue

TryCharge = Callable[[ChargeRequest, Mapping[str, str]], Awaitable[UpstreamAnswer]]


@dataclass(slots=True, eq=False)
class HeldCharge:
    charge: ProxyCharge
    headers: Mapping[str, str]
    answer: asyncio.Future[UpstreamAnswer]
    retry_after_s: float  # of the last refusal: what the client is told if the wait runs out


class ChargeHold:
    def __init__(self, try_charge: TryCharge, clock: Callable[[], float]) -> None:
        self._try_charge = try_charge
        self._clock = clock
        self.queue: WaitQueue[HeldCharge] = WaitQueue()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self.queue)

    async def hold(
        self, charge: ProxyCharge, headers: Mapping[str, str], refusal: NoCapacity
    ) -> UpstreamAnswer:
        """Wait for room, first come first served, for at most `charge.max_wait_s`."""
        held = HeldCharge(
            charge, headers, asyncio.get_running_loop().create_future(), refusal.retry_after_s
        )
        waiter = self.queue.join(held, self._clock(), charge.max_wait_s, refusal.retry_after_s)
        self._changed.set()
        try:
            return await held.answer
        finally:
            self.queue.leave(waiter)  # a client that hung up leaves the queue too
            self._changed.set()

    def power_freed(self) -> None:
        """Power was seen freed (a stop passed through, a poll showed room): try the head now."""
        self.queue.power_freed(self._clock())
        self._changed.set()

    def serving(self) -> contextlib.AbstractAsyncContextManager[None]:
        return background.running(self._serve_forever)

    async def _serve_forever(self) -> None:
        while True:
            turn = self.queue.next_turn(self._clock())
            for waiter in turn.late:
                self._answer_late(waiter.item)
            if turn.head is not None:
                await self._try_again(turn.head)
                continue
            timeout = None if turn.wake_at is None else max(0.0, turn.wake_at - self._clock())
            self._changed.clear()
            with contextlib.suppress(TimeoutError):  # not wait_for: see grid.background.stop
                async with asyncio.timeout(timeout):
                    await self._changed.wait()

    def _answer_late(self, held: HeldCharge) -> None:
        if not held.answer.done():
            held.answer.set_exception(
                NoCapacity(
                    f"no room for {held.charge.request.min_amount_kw:g} kW "
                    f"within {held.charge.max_wait_s:g} s",
                    retry_after_s=held.retry_after_s,
                    headroom_kw=None,
                )
            )

    async def _try_again(self, waiter: Waiter[HeldCharge]) -> None:
        held = waiter.item
        try:
            answer = await self._try_charge(held.charge.request, held.headers)
        except NoCapacity as refusal:
            held.retry_after_s = refusal.retry_after_s
            self.queue.turn_ended(waiter, self._clock(), refusal.retry_after_s)
            return
        except ApiError as error:
            self.queue.turn_ended(waiter, self._clock(), None)
            if not held.answer.done():
                held.answer.set_exception(error)
            return
        self.queue.turn_ended(waiter, self._clock(), None)
        if not held.answer.done():
            held.answer.set_result(answer)
