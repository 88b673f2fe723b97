"""The benchmarks run and print every row: a smoke check, no thresholds (docs/performance.md)."""

from __future__ import annotations

import json
import os
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
        [sys.executable, "-m", "bench.proxy", "--quick", "--json", "--pin"],
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
        "ratio_fast_vs_floor",
        "cpu_ratio_vs_floor",
        "proxy_cpu_us_per_request",
        "added_p50_ms_at_1k",
        "floor_added_p50_ms_at_1k",
    ):
        assert isinstance(report[key], float)
    # Each front's CPU a request at about 1,000 req/s (direct has no front).
    assert sorted(report["cpu_us_per_request_at_1k"]) == ["floor", "haproxy", "nginx", "ours"]
    assert report["build"] == "compiled"  # ours as the image runs it
    # Each front on a core of its own, where the machine has two.
    assert report["layout"] == ("pinned" if len(os.sched_getaffinity(0)) > 1 else "shared")
    rows = {(row["upstream"], row["front"], row["round"]) for row in report["rows"]}
    for upstream in ("fast", "substations"):
        for front in FRONTS:
            assert (upstream, front, 1) in rows  # throughput
            assert (upstream, front, 0) in rows  # latency at about 1,000 req/s
    assert all(row["errors"] == 0 for row in report["rows"])
    # Every row also went to stderr as a table for a person to read.
    assert len(finished.stderr.splitlines()) >= 1 + 2 * 2 * len(FRONTS)


def test_choice_and_substation_benchmarks_print_their_tables() -> None:
    for argv, header in (
        (["bench.choice", "--build", "source", "--repeat", "1"], "the source build"),
        (["bench.substation"], "us per admission"),
    ):
        finished = subprocess.run(
            [sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300, check=True
        )
        assert header in finished.stdout
        assert len(finished.stdout.splitlines()) >= 4


def run_json(argv: list[str]) -> dict[str, object]:
    finished = subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300, check=False
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report: dict[str, object] = json.loads(finished.stdout)
    return report


@pytest.mark.stack
def test_stream_benchmark_quick_measures_cpu_per_report_and_proxy_memory() -> None:
    report = run_json(["bench.stream", "--quick", "--json"])
    for subscribers in (1, 16):
        assert isinstance(report[f"substation_cpu_us_per_report_{subscribers}_subscribers"], float)
        reports = report[f"reports_{subscribers}_subscribers"]
        assert isinstance(reports, float) and reports > 10  # the ledger changed: reports came
    assert report["proxy_streams_open"] == 100  # every substation of the quick city streamed
    assert isinstance(report["proxy_kb_per_streamed_substation"], float)


@pytest.mark.stack
def test_workers_benchmark_runs_the_seed_burst_shared_by_stream_and_blind() -> None:
    report = run_json(["bench.workers", "--trials", "1", "--json"])
    assert isinstance(report["telling_us_per_charge"], float)
    for mode in ("shared", "stream", "blind"):
        figures = report[mode]
        assert isinstance(figures, dict)
        assert figures["failed"] == 0
        assert isinstance(figures["spread_kw_median"], float)


@pytest.mark.stack
def test_layers_benchmark_measures_each_front_and_the_layers_between() -> None:
    for tool, package in (("wrk", "wrk"), ("nginx", "nginx")):
        require_tool(tool, package)
    report = run_json(["bench.layers", "--rounds", "1", "--seconds", "1", "--json"])
    fronts = report["fronts"]
    assert isinstance(fronts, dict) and set(fronts) == {"floor", "floor as an app", "ours"}
    for figures in fronts.values():
        assert figures["requests_per_s"] > 100  # every front relayed charges
        assert figures["cpu_us"] == pytest.approx(figures["user_us"] + figures["system_us"], 0.1)
    assert isinstance(report["application_layer_us"], float)
    assert isinstance(report["charge_path_us"], float)


@pytest.mark.stack
def test_instructions_benchmark_counts_each_front_under_callgrind() -> None:
    for tool, package in (("wrk", "wrk"), ("nginx", "nginx"), ("valgrind", "valgrind")):
        require_tool(tool, package)
    report = run_json(["bench.instructions", "--build", "source", "--seconds", "1", "--json"])
    counts = report["instructions_per_request"]
    assert isinstance(counts, dict) and set(counts) == {"floor", "floor as an app", "ours"}
    # Counted only while wrk drove it: a request is thousands of instructions, not billions.
    assert all(10_000 < count < 50_000_000 for count in counts.values())
    # Ours adds work to either floor (about 2.5 times the floor's, from the sources). The two
    # floors differ by a tenth, less than a one-second count's noise on a slow machine (the
    # floor as an app once counted 2 % under the floor here), so their order is not checked.
    assert counts["ours"] > max(counts["floor as an app"], counts["floor"])
    assert report["ratio_ours_vs_floor"] == round(counts["ours"] / counts["floor"], 3)
