"""The 5-second poll: read every substation's `/metrics`, tell the balancer what it says.
Substations taken out are polled every second in between, to see them back soon.

With `--discover`, the name is resolved again at every round, so substations added or removed
by `docker compose up --scale substation=N` are followed. Rounds are jittered (80-120 % of the
interval) so that several proxies, or a proxy restarted with the substations, never align.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from proxy import background
from proxy.balancer import Balancer
from proxy.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from proxy.health import SERVING
from proxy.upstream import Upstream

JITTER = 0.2


@dataclass(frozen=True, slots=True)
class MetricsReading:
    name: str | None
    load_kw: float
    capacity_kw: float
    draining: bool


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

    async def poll_round(self) -> None:
        if self._discover:
            discovered = await resolve_substations(self._discover)
            if discovered:  # a failed lookup keeps the substations we know
                self._balancer.set_substations(discovered)
        views = self._balancer.views()
        await asyncio.gather(*(self.poll_one(view.key) for view in views))
        if self._after_round is not None:
            self._after_round()

    async def poll_out_of_service(self) -> None:
        """Only the substations taken out (down, or back for one good check so far)."""
        keys = [view.key for view in self._balancer.views() if view.health not in SERVING]
        await asyncio.gather(*(self.poll_one(key) for key in keys))
        if keys and self._after_round is not None:
            self._after_round()

    async def poll_one(self, key: str) -> None:
        sent_at = self._clock()  # the reading was taken between this and its arrival
        try:
            answer = await self._upstream.send("GET", f"{key}/metrics", None, {})
            if answer.status != 200:
                raise ValueError(f"/metrics answered {answer.status}")
            reading = parse_metrics(answer.body.decode())
        except UpstreamUnreachable:
            self._balancer.record_health(key, "refused")  # out at once, as when forwarding
            return
        except (UpstreamTimeout, UpstreamBroken, ValueError):
            self._balancer.record_health(key, "poll_failed")
            return
        self._balancer.record_poll(
            key,
            self._clock(),
            load_kw=reading.load_kw,
            capacity_kw=reading.capacity_kw,
            draining=reading.draining,
            name=reading.name,
            sent_at=sent_at,
        )

    async def run_forever(self) -> None:
        """A round every interval, jittered (the app ran the first before serving); between
        rounds, the substations taken out every `down_interval_s` (HAProxy's `downinter`),
        so that one coming back is in service again within seconds, not rounds."""
        loop = asyncio.get_running_loop()  # its monotonic clock, for the schedule alone
        next_round = loop.time() + self._jittered_interval()
        while True:
            await asyncio.sleep(max(0.0, min(next_round - loop.time(), self._down_interval_s)))
            if loop.time() >= next_round:
                await self.poll_round()
                next_round = loop.time() + self._jittered_interval()
            else:
                await self.poll_out_of_service()

    def _jittered_interval(self) -> float:
        return self._interval_s * self._rng.uniform(1 - JITTER, 1 + JITTER)

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
