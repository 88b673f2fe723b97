"""Following every substation's load stream (`GET /load/stream`): the async shell.

One task per substation, configured or discovered, each reconnecting with a jittered, doubling
backoff (`ReconnectBackoff`). A report is taken as an answer's is, by its sequence, and each
vehicle it tells of as booked is remembered where it charges (`learn_stream_report`). A stream
that breaks off takes the substation out at once (`Balancer.record_stream_dropped`): one killed
is out of the choice within a round trip, long before any poll. While a substation's stream is
down, the poll carries on as before.

aiohttp's client reads the stream: one long-lived connection per substation, so its cost per
request does not matter here, and it is well kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

import aiohttp

from grid import background
from grid.protocol import LOAD_STREAM_PATH, STREAM_HEARTBEAT_S, load_report_from_stream_line
from proxy.attempt import learn_stream_report
from proxy.balancer import Balancer
from proxy.directory import SessionDirectory
from proxy.polling import ReconnectBackoff

# A substation repeats its report every heartbeat when nothing changes: three missed in a row is
# a connection that died without a word (a host gone, a cable cut).
READ_TIMEOUT_S = 3 * STREAM_HEARTBEAT_S
# How often the set of substations (discovery may change it) is compared with the streams.
FOLLOW_CHECK_S = 1.0


class LoadStreams:
    def __init__(
        self,
        balancer: Balancer,
        directory: SessionDirectory,
        clock: Callable[[], float],
        connect_timeout_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self._balancer = balancer
        self._directory = directory
        self._clock = clock
        self._connect_timeout_s = connect_timeout_s
        self._rng = rng or random.Random()

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        return background.running(self.follow_all)

    async def follow_all(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._connect_timeout_s, sock_read=READ_TIMEOUT_S
        )
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        tasks: dict[str, asyncio.Task[None]] = {}
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            try:
                while True:
                    keys = {view.key for view in self._balancer.views()}
                    for key in keys - tasks.keys():
                        tasks[key] = asyncio.create_task(self._follow(session, key))
                    for key in tasks.keys() - keys:
                        tasks.pop(key).cancel()
                    await asyncio.sleep(FOLLOW_CHECK_S)
            finally:
                await background.stop(list(tasks.values()))

    async def _follow(self, session: aiohttp.ClientSession, key: str) -> None:
        backoff = ReconnectBackoff(self._rng)
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with session.get(f"{key}{LOAD_STREAM_PATH}") as response:
                    if response.status == 200:
                        async for line in response.content:
                            taken = self._balancer.stream_bookings_taken(key)
                            report = load_report_from_stream_line(line, taken)
                            learn_stream_report(
                                self._balancer, self._directory, key, report, self._clock()
                            )
                            backoff.reset()
            self._balancer.record_stream_dropped(key)
            await asyncio.sleep(backoff.next_delay())
