"""The proxy's Prometheus metrics (SPEC section 2), the only module that knows aioprometheus.

Per-substation gauges are read from the balancer when Prometheus scrapes, so they cannot
drift from what the balancer decides on. Counting a request is on every charge's path, so it
is a plain dict increment and a bucket found from the lowest; the counts are copied into
aioprometheus's collectors when Prometheus scrapes (aioprometheus checks and sorts labels on
every call, about 8 us).
"""

from __future__ import annotations

from aioprometheus.collectors import Counter, Gauge, Histogram, Registry
from aioprometheus.histogram import Histogram as LatencyBuckets
from aioprometheus.renderer import render

from proxy.balancer import Balancer

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REJECT_REASONS = (
    "invalid_request",
    "payload_too_large",
    "unsupported_media_type",
    "no_capacity",
    "no_healthy_substation",
    "upstream_timeout",
    "upstream_broken",
)


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = Registry()
        r = self.registry
        self._requests = Counter(
            "proxy_requests_total", "Charge requests by substation and status", registry=r
        )
        self._duration = Histogram(
            "proxy_request_duration_seconds",
            "Time to answer a charge request",
            registry=r,
            buckets=LATENCY_BUCKETS_S,
        )
        self._retries = Counter(
            "proxy_retries_total", "Charges tried on another substation", registry=r
        )
        self._rejected = Counter(
            "proxy_rejected_total",
            "Charges the proxy answered with an error, by reason",
            registry=r,
        )
        self._in_flight = Gauge("proxy_in_flight", "Requests in flight per substation", registry=r)
        self._load = Gauge("proxy_substation_load_kw", "Newest reported load, kW", registry=r)
        self._capacity = Gauge("proxy_substation_capacity_kw", "Reported capacity, kW", registry=r)
        self._up = Gauge("proxy_substation_up", "1 while the substation takes charges", registry=r)
        self._waiting = Gauge(
            "proxy_waiting_requests", "Charges held for room (max_wait_s)", registry=r
        )
        self._retries.set({}, 0)
        for reason in REJECT_REASONS:
            self._rejected.set({"reason": reason}, 0)
        # What the charge path counts, copied into the collectors above at each scrape.
        # A plain dict, not a Counter: compiled, a dict subclass's items go through the generic
        # item protocol.
        self._request_counts: dict[tuple[str, int], int] = {}
        self._duration_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)  # the last is +Inf
        # Held here: compiled, a read of the module's tuple of floats built it afresh, each of
        # its 13 floats boxed, on every charge (callgrind, docs/performance.md, 2026-12-04).
        self._bucket_bounds_s: tuple[float, ...] = LATENCY_BUCKETS_S
        self._duration_sum_s = 0.0

    def observe_request(self, substation: str, status: int, duration_s: float) -> None:
        key = (substation, status)
        self._request_counts[key] = self._request_counts.get(key, 0) + 1
        # Bucket i counts durations in (bound[i-1], bound[i]]: Prometheus's `le`, uncumulated.
        # From the lowest: a charge's duration is in the first few buckets.
        bucket = 0
        for bound in self._bucket_bounds_s:
            if duration_s <= bound:
                break
            bucket += 1
        self._duration_counts[bucket] += 1
        self._duration_sum_s += duration_s

    def count_retry(self) -> None:
        self._retries.inc({})

    def count_rejection(self, reason: str) -> None:
        self._rejected.inc({"reason": reason})

    def render(
        self, balancer: Balancer, waiting: int, accept_headers: list[str]
    ) -> tuple[bytes, dict[str, str]]:
        # The per-substation gauges are built afresh at each scrape, from the substations the
        # balancer follows now: one that left (scaled down, gone from DNS) leaves no series
        # behind, rather than its last `proxy_substation_up 1` for ever.
        for gauge in (self._in_flight, self._load, self._capacity, self._up):
            gauge.values.clear()
        for view in balancer.views():
            labels = {"substation": view.name}
            for code in ("201", "503"):  # series exist before the first charge
                requests = {**labels, "code": code}
                if requests not in self._requests.values:
                    self._requests.set(requests, 0)
            self._in_flight.set(labels, view.in_flight)
            self._load.set(labels, view.load_kw)
            self._capacity.set(labels, view.capacity_kw or 0.0)
            self._up.set(labels, int(view.serving))
        self._waiting.set({}, waiting)
        for (substation, status), count in self._request_counts.items():
            self._requests.set({"substation": substation, "code": str(status)}, count)
        self._copy_durations()
        body, headers = render(self.registry, accept_headers)
        return body, dict(headers)

    def _copy_durations(self) -> None:
        buckets = LatencyBuckets(*LATENCY_BUCKETS_S)
        cumulative = 0
        for upper_bound, count in zip(buckets.buckets, self._duration_counts, strict=True):
            cumulative += count
            buckets.buckets[upper_bound] = cumulative
        buckets.observations = cumulative
        buckets.sum = self._duration_sum_s
        self._duration.set_value({}, buckets)
