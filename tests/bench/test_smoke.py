"""The benchmarks run and print every row: a smoke check, no thresholds (docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.proxy import FRONTS
from tests.helpers import require_tool


@pytest.mark.stack
def test_proxy_benchmark_quick_prints_every_row() -> None:
    for tool, package in (("wrk", "wrk"), ("haproxy", "haproxy"), ("nginx", "nginx")):
        require_tool(tool, package)
    finished = subprocess.run(
        [sys.executable, "-m", "bench.proxy", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout)
    for key in (
        "ratio_fast_vs_haproxy",
        "ratio_substations_vs_haproxy",
        "proxy_cpu_us_per_request",
        "added_p50_ms_at_1k",
    ):
        assert isinstance(report[key], float)
    rows = {(row["upstream"], row["front"], row["round"]) for row in report["rows"]}
    for upstream in ("fast", "substations"):
        for front in FRONTS:
            assert (upstream, front, 1) in rows  # throughput
            assert (upstream, front, 0) in rows  # latency at about 1,000 req/s
    assert all(row["errors"] == 0 for row in report["rows"])
    # Every row also went to stderr as a table for a person to read.
    assert len(finished.stderr.splitlines()) >= 1 + 2 * 2 * len(FRONTS)


def test_choice_and_substation_benchmarks_print_their_tables() -> None:
    for module, header in (
        ("bench.choice", "ns per choice"),
        ("bench.substation", "us per admission"),
    ):
        finished = subprocess.run(
            [sys.executable, "-m", module], capture_output=True, text=True, timeout=300, check=True
        )
        assert header in finished.stdout
        assert len(finished.stdout.splitlines()) >= 4
