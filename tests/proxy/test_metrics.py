"""The proxy's metrics: counted on the charge path, rendered for Prometheus at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from proxy.balancer import Balancer
from proxy.metrics import ProxyMetrics

Labels = tuple[tuple[str, str], ...]


def scrape(metrics: ProxyMetrics, balancer: Balancer) -> dict[tuple[str, Labels], float]:
    body, _ = metrics.render(balancer, 0, [])
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_latency_buckets_are_cumulative_with_sum_and_count() -> None:
    metrics, balancer = ProxyMetrics(), Balancer()
    for duration_s in (0.0005, 0.001, 0.003, 0.3, 20.0):
        metrics.observe_request("s1", 201, duration_s)
    samples = scrape(metrics, balancer)
    bucket = "proxy_request_duration_seconds_bucket"
    assert samples[bucket, (("le", "0.001"),)] == 2  # le is "at most": 0.001 counts here
    assert samples[bucket, (("le", "0.005"),)] == 3
    assert samples[bucket, (("le", "0.25"),)] == 3
    assert samples[bucket, (("le", "0.5"),)] == 4
    assert samples[bucket, (("le", "10.0"),)] == 4
    assert samples[bucket, (("le", "+Inf"),)] == 5
    assert samples["proxy_request_duration_seconds_count", ()] == 5
    assert samples["proxy_request_duration_seconds_sum", ()] == 0.0005 + 0.001 + 0.003 + 0.3 + 20


def test_requests_are_counted_by_substation_and_status_across_scrapes() -> None:
    metrics, balancer = ProxyMetrics(), Balancer()
    balancer.set_substations(["http://s1"])
    metrics.observe_request("s1", 201, 0.01)
    metrics.observe_request("s1", 201, 0.01)
    metrics.observe_request("none", 400, 0.01)
    first = scrape(metrics, balancer)
    metrics.observe_request("s1", 201, 0.01)
    second = scrape(metrics, balancer)
    total = "proxy_requests_total"
    assert first[total, (("code", "201"), ("substation", "s1"))] == 2
    assert first[total, (("code", "400"), ("substation", "none"))] == 1
    assert second[total, (("code", "201"), ("substation", "s1"))] == 3
    # Series for each substation exist before its first charge, so rate() starts at zero.
    assert second[total, (("code", "503"), ("substation", "http://s1"))] == 0


def test_a_substation_that_left_leaves_no_gauge_behind() -> None:
    metrics, balancer = ProxyMetrics(), Balancer()
    balancer.set_substations(["http://s1", "http://s2"])
    before = scrape(metrics, balancer)
    balancer.set_substations(["http://s1"])  # s2 scaled away: discovery no longer finds it
    after = scrape(metrics, balancer)
    for name in ("proxy_substation_up", "proxy_in_flight", "proxy_substation_load_kw"):
        assert (name, (("substation", "http://s2"),)) in before
        assert (name, (("substation", "http://s2"),)) not in after
        assert (name, (("substation", "http://s1"),)) in after
