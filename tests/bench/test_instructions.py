"""`bench.instructions` reading callgrind's dumps (its runs: tests/bench/test_smoke.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.instructions import MISS_EVENTS, counted_events, cycle_estimate, instruction_report

# The head and tail of a dump as callgrind writes it with `--cache-sim=yes --branch-sim=yes`.
CACHE_SIM_DUMP = """\
version: 1
creator: callgrind-3.19.0
cmd:  python -m proxy --port 1
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim
fl=(1) ???
fn=(1) 0x0000000000001000
0 3 1 0 0 0 0 0 0 0 0 0 0 0
totals: 1000 400 200 30 20 10 3 2 1 150 7 40 5
"""


def test_every_event_of_the_dump_is_read_with_its_total(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_text(CACHE_SIM_DUMP)
    events = counted_events(dump)
    assert events["Ir"] == 1000
    assert events["I1mr"] == 30 and events["DLmw"] == 1 and events["Bim"] == 5
    assert len(events) == 13


def test_a_plain_dump_has_the_instructions_alone(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("version: 1\nevents: Ir\nfn=(1) main\n0 5\ntotals: 1234\n")
    assert counted_events(dump) == {"Ir": 1234}


def test_a_dump_without_totals_is_refused(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("version: 1\nevents: Ir\n")
    with pytest.raises(ValueError, match="no totals"):
        counted_events(dump)


def test_the_cycle_estimate_weighs_each_miss_as_kcachegrind_does() -> None:
    events = {"Ir": 1000, "I1mr": 30, "D1mr": 20, "D1mw": 10, "ILmr": 3, "DLmr": 2, "DLmw": 1}
    events |= {"Bcm": 7, "Bim": 5}
    # 1000 instructions, 60 first-level misses x 10, 6 last-level x 100, 12 mispredicted x 10.
    assert cycle_estimate(events) == 1000 + 600 + 600 + 120


def test_the_report_holds_misses_and_cycle_estimates_only_when_simulated() -> None:
    plain = {"Ir": 200_000}
    simulated = plain | {event: 1 for event in MISS_EVENTS}
    fronts = {"floor": 1, "floor as an app": 1.1, "ours": 1.5}
    settings = argparse.Namespace(build="compiled", upstreams="fast", cache_sim=False)
    report = instruction_report(
        {name: {"Ir": round(200_000 * f)} for name, f in fronts.items()}, settings
    )
    assert report["ratio_ours_vs_floor"] == 1.5
    assert "cycle_estimate_per_request" not in report
    settings.cache_sim = True
    events = {
        name: {key: round(n * f) for key, n in simulated.items()} for name, f in fronts.items()
    }
    report = instruction_report(events, settings)
    assert report["misses_per_request"] == {
        name: {event: counted[event] for event in MISS_EVENTS} for name, counted in events.items()
    }
    cycles = report["cycle_estimate_per_request"]
    assert cycles == {name: cycle_estimate(counted) for name, counted in events.items()}
    assert report["cycle_ratio_ours_vs_floor"] == round(cycles["ours"] / cycles["floor"], 3)
