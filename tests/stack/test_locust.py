"""Locust, headless for about 10 s, against the real local stack: exit code and CSV stats."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack.processes import running_stack
from tests.helpers import free_stack_layout

ROOT = Path(__file__).resolve().parents[2]


def run_locust(host: str, out: Path, shape: str, seconds: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUSH_SHAPE": shape, "RUSH_SECONDS": str(seconds), "RUSH_PEAK_USERS": "30"}
    locust = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless"]
    reports = ["--csv", str(out / "run"), "--json-file", str(out / "run"), "--only-summary"]
    return subprocess.run(
        [*locust, "--host", host, *reports, "--run-time", "60s"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.mark.stack
@pytest.mark.parametrize(("shape", "seconds"), [("rush", 10), ("burst", 0)])
def test_locust_run_has_no_failures(tmp_path: Path, shape: str, seconds: int) -> None:
    layout = free_stack_layout()
    with running_stack(layout, tmp_path / "logs"):
        finished = run_locust(layout.proxy_url, tmp_path, shape, seconds)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert rows["Aggregated"]["Failure Count"] == "0"
    # The CSV is a snapshot Locust takes every second; the JSON file holds the final counts.
    final = json.loads((tmp_path / "run.json").read_text())
    assert sum(entry["num_failures"] for entry in final) == 0
    charges = sum(e["num_requests"] for e in final if e["method"] == "POST")
    if shape == "burst":
        assert charges == 100  # one charge per driver, all at once
    else:
        assert charges >= 10


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("RUSH_SHAPE", "rsuh"),
        ("RUSH_SECONDS", "2min"),
        ("RUSH_SECONDS", "-5"),
        ("RUSH_PEAK_USERS", "0"),
        ("BURST_USERS", "1.5"),
    ],
)
def test_a_bad_setting_stops_locust_naming_it(variable: str, text: str) -> None:
    env = {**os.environ, variable: text}
    locust = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless"]
    finished = subprocess.run(
        [*locust, "--host", "http://127.0.0.1:9", "--run-time", "1s"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert finished.returncode != 0
    assert f"{variable}={text!r}" in finished.stderr
