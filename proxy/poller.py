"""The poller's async shell: read substations' `/metrics` when `PollSchedule` (`proxy.polling`)
says, and tell the balancer what they say (`take_poll`).

With `--discover`, the name is resolved again at every round, so substations added or removed
by `docker compose up --scale substation=N` are followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from grid import background
from grid.protocol import load_report_from_headers
from grid.seen import HEADER_PROXY_REF
from proxy.balancer import Balancer
from proxy.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from proxy.polling import (
    MetricsReading,
    PollFailed,
    PollKind,
    PollRefused,
    PollResult,
    PollSchedule,
    keys_to_poll,
    take_poll,
    wakes_waiters,
)
from proxy.upstream import Upstream


def parse_metrics(text: str) -> MetricsReading:
    """Pick `current_load`, `substation_capacity_kw` and `substation_draining` from the text."""
    values: dict[str, float] = {}
    name: str | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values.setdefault(sample.name, sample.value)
            name = name or sample.labels.get("substation")
    if "current_load" not in values or "substation_capacity_kw" not in values:
        raise ValueError("the metrics have no current_load or substation_capacity_kw")
    return MetricsReading(
        name=name,
        load_kw=values["current_load"],
        capacity_kw=values["substation_capacity_kw"],
        draining=values.get("substation_draining", 0.0) == 1.0,
    )


class Poller:
    def __init__(
        self,
        balancer: Balancer,
        upstream: Upstream,
        clock: Callable[[], float],
        interval_s: float,
        discover: str | None = None,
        rng: random.Random | None = None,
        after_round: Callable[[], None] | None = None,
        down_interval_s: float | None = None,
    ) -> None:
        self._balancer = balancer
        self._upstream = upstream
        self._clock = clock
        self._interval_s = interval_s
        self._down_interval_s = down_interval_s or interval_s
        self._discover = discover
        self._rng = rng or random.Random()
        # Told after every round: charges waiting for room may try again on what it found.
        self._after_round = after_round
        # Polls are named as charges are, so a substation's answer sums what this proxy asked.
        self._named = {} if balancer.ref is None else {HEADER_PROXY_REF: balancer.ref}

    async def poll_round(self) -> None:
        await self.poll("round")

    async def poll(self, kind: PollKind) -> None:
        if kind == "round" and self._discover:
            discovered = await resolve_substations(self._discover)
            if discovered:  # a failed lookup keeps the substations we know
                self._balancer.set_substations(discovered)
        keys = keys_to_poll(self._balancer, kind)
        await asyncio.gather(*(self.poll_one(key) for key in keys))
        if wakes_waiters(kind, keys) and self._after_round is not None:
            self._after_round()

    async def poll_one(self, key: str) -> None:
        sent_at = self._clock()  # the reading was taken between this and its arrival
        take_poll(self._balancer, key, await self._read(key), sent_at, self._clock())

    async def _read(self, key: str) -> PollResult:
        try:
            answer = await self._upstream.send("GET", f"{key}/metrics", None, self._named)
            if answer.status != 200:
                return PollFailed()
            reading = parse_metrics(answer.body.decode())
            report = load_report_from_headers(answer.headers)
            if report is None:  # a substation that sends no report: its load, as the newest
                return reading
            return replace(reading, seq=report.seq, seen=report.seen)
        except UpstreamUnreachable:
            return PollRefused()
        except (UpstreamTimeout, UpstreamBroken, ValueError):
            return PollFailed()

    async def run_forever(self) -> None:
        """Polls as `PollSchedule` says (the app ran the first round before serving)."""
        loop = asyncio.get_running_loop()  # its monotonic clock, for the schedule alone
        schedule = PollSchedule(self._interval_s, self._down_interval_s, self._rng, loop.time())
        while True:
            await asyncio.sleep(max(0.0, schedule.wake_at(loop.time()) - loop.time()))
            await self.poll(schedule.due(loop.time()))

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        return background.running(self.run_forever)


async def resolve_substations(host_port: str) -> list[str]:
    """Base URLs for every A record of `host:port`; none if the name does not resolve."""
    host, _, port = host_port.rpartition(":")
    try:
        records = await asyncio.get_running_loop().getaddrinfo(
            host, int(port), family=socket.AF_INET, type=socket.SOCK_STREAM
        )
    except OSError:
        return []
    return sorted({f"http://{record[4][0]}:{port}" for record in records})
