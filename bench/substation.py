"""`python -m bench.substation`: cost of one admission and memory per session, by ledger size.

Admissions are timed in batches of 1,000 on a ledger holding N active sessions; each batch is
stopped again (untimed) so N stays put. "With expiry" is the steady state of a busy substation:
N sessions of 60 s booked evenly, and time moving on so that each admission comes as the
oldest session ends (one expiry per admission, timed together). Memory is what tracemalloc
sees allocated while the N sessions are booked, divided by N. All should stay flat from 1k to
100k.
"""

from __future__ import annotations

import itertools
import time
import tracemalloc

from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest

SIZES = (1_000, 10_000, 100_000)
BATCH = 1_000
BATCHES = 20
T0 = 1_800_000_000.0


def fill(size: int) -> tuple[SessionLedger, int]:
    """A ledger with `size` active sessions, and the bytes they took."""
    ids = itertools.count()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ledger = SessionLedger(
        "bench", capacity_kw=1e9, session_seconds=3600, new_session_id=lambda: f"{next(ids):032x}"
    )
    for number in range(size):
        ledger.admit(ChargeRequest(f"EV-{number}", 11.0, 11.0), T0)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return ledger, used


def microseconds_per_admission(ledger: SessionLedger) -> float:
    requests = [ChargeRequest(f"EV-new-{n}", 11.0, 11.0) for n in range(BATCH)]
    best = float("inf")
    for _ in range(BATCHES):
        started = time.perf_counter()
        booked = [ledger.admit(request, T0 + 1).session for request in requests]
        best = min(best, (time.perf_counter() - started) / BATCH)
        for session in booked:
            ledger.stop(session.session_id, T0 + 1)
    return best * 1e6


def microseconds_per_turnover(size: int) -> float:
    """One admission and one expiry at a time, with `size` sessions active throughout."""
    ids = itertools.count()
    ledger = SessionLedger(
        "bench", capacity_kw=1e9, session_seconds=60, new_session_id=lambda: f"{next(ids):032x}"
    )
    step_s = 60 / size
    for number in range(size):
        ledger.admit(ChargeRequest(f"EV-{number}", 11.0, 11.0), T0 + number * step_s)
    turn, best = size, float("inf")
    for batch in range(BATCHES):
        requests = [ChargeRequest(f"EV-{batch}-{n}", 11.0, 11.0) for n in range(BATCH)]
        started = time.perf_counter()
        for request in requests:
            ledger.admit(request, T0 + turn * step_s)
            turn += 1
        best = min(best, (time.perf_counter() - started) / BATCH)
    assert abs(ledger.active_sessions - size) <= 1  # float rounding of the end times
    return best * 1e6


def main() -> None:
    print(
        f"{'active sessions':>16}{'us per admission':>18}{'us with expiry':>16}"
        f"{'bytes per session':>19}"
    )
    for size in SIZES:
        ledger, used = fill(size)
        admission_us = microseconds_per_admission(ledger)
        print(
            f"{size:>16,}{admission_us:>18.2f}{microseconds_per_turnover(size):>16.2f}"
            f"{used / size:>19.0f}"
        )


if __name__ == "__main__":
    main()
