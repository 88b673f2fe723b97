"""`python -m stack burst` and `demo` as a user runs them: real processes, then nothing left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack.processes import free_port_run
from tests.helpers import is_listening


def run_stack(command: str, first: int, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    ports = ["--first-substation-port", str(first), "--proxy-port", str(first + 3)]
    return subprocess.run(
        [sys.executable, "-m", "stack", command, *ports, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.stack
def test_burst_balances_the_seed_burst_and_stops_everything(tmp_path: Path) -> None:
    first = free_port_run(4)
    finished = run_stack("burst", first, tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "failed 0 (0.0 %)" in finished.stdout
    assert "balanced within one request: yes" in finished.stdout
    for name in ("substation1", "substation2", "substation3"):
        assert name in finished.stdout
    # Nothing listens any more: every process the command started has stopped.
    assert not any(is_listening(port) for port in range(first, first + 4))


@pytest.mark.stack
def test_rush_hour_demo_reports_plots_and_stops_everything(tmp_path: Path) -> None:
    first = free_port_run(4)
    finished = run_stack("demo", first, tmp_path, "--seconds", "20", "--peak-users", "40")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    report = finished.stdout
    assert "failed 0 of" in report
    assert "refused for capacity" in report
    assert "utilizations within" in report
    assert (tmp_path / "demo-report.html").stat().st_size > 1000
    assert (tmp_path / "load.png").stat().st_size > 10_000
    assert not any(is_listening(port) for port in range(first, first + 4))
