"""`python -m stack demo` as a user runs it: real processes on loopback, then nothing left."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def free_port_run(length: int) -> int:
    """The first of `length` consecutive free loopback ports."""
    rng = random.Random()
    for _ in range(50):
        first = rng.randrange(20_000, 40_000)
        if all(_is_free(port) for port in range(first, first + length)):
            return first
    raise RuntimeError("no run of free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.stack
def test_demo_balances_the_seed_burst_and_stops_everything(tmp_path: Path) -> None:
    first = free_port_run(4)
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "stack",
            "demo",
            "--first-substation-port",
            str(first),
            "--proxy-port",
            str(first + 3),
            "--log-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "failed 0 (0.0 %)" in finished.stdout
    assert "balanced within one request: yes" in finished.stdout
    for name in ("substation1", "substation2", "substation3"):
        assert name in finished.stdout
    # Nothing listens any more: every process the demo started has stopped.
    assert not any(_is_listening(port) for port in range(first, first + 4))
