"""The lower bound on seconds over one request after a return (`proxy.simulate.bound`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from proxy.simulate.bound import (
    Return,
    SampledSimulation,
    Second,
    bound_window,
    return_windows,
)
from proxy.simulate.scenario import load_scenario
from tests.helpers import write_scenario


def test_a_return_is_over_the_line_until_the_bookings_could_have_refilled_it() -> None:
    """Two substations of 100 kW holding 100 kW between them, one back empty at t = 0 and 10 kW
    booked each second: within 0.1 needs the returned one at 45-55 kW, which the bookings
    allow from t = 5 s on. Seconds 0-4 are over for any placement; the run's were all over."""
    seconds = [
        Second(at=float(t), load_kw=100.0, capacity_kw=200.0, booked_kw=10.0 * t, spread=1.0)
        for t in range(10)
    ]
    back = Return("b", 0.0, 100.0)
    assert bound_window(seconds, 0.0, 10.0, [back], line=0.1) == (5, 10)
    # Bookings twice as fast: from t = 3 s on (the returned one at 45 kW by then).
    faster = [
        Second(second.at, second.load_kw, second.capacity_kw, 2 * second.booked_kw, 0.0)
        for second in seconds
    ]
    assert bound_window(faster, 0.0, 10.0, [back], line=0.1) == (3, 0)


def test_what_was_booked_before_the_return_itself_is_not_on_it() -> None:
    """As above, back at t = 1 s, with 30 kW booked between the sample at 0 and the return, then
    10 kW a second. Told the kW booked by the return's moment, the returned one reaches 45 kW at
    t = 6 s (over at t = 1-5 s); taking the sample before instead, the 30 kW might be on it, and
    only t = 1-2 s are surely over."""
    seconds = [
        Second(
            at=float(t),
            load_kw=100.0,
            capacity_kw=200.0,
            booked_kw=0.0 if t == 0 else 30.0 + 10.0 * (t - 1),
            spread=1.0,
        )
        for t in range(11)
    ]
    back = Return("b", 1.0, 100.0)
    booked_by_return = {("b", 1.0): 30.0}
    assert bound_window(seconds, 1.0, 11.0, [back], 0.1, booked_by_return) == (5, 10)
    assert bound_window(seconds, 1.0, 11.0, [back], 0.1) == (2, 10)


def test_a_second_return_in_the_window_is_followed_from_its_own_return() -> None:
    """A second substation of 100 kW comes back empty at t = 6 s (300 kW live, the same
    100 kW of load: a third each). Filling the first to within the line by t = 5 s (45 kW, as
    above) would leave it over a third for good; the fewest seconds over keep it near 40 kW, so
    over through t = 5 s, and fill the second to 30 kW from what was booked after the sample
    before its return (t = 5 s): over at t = 6 and 7 s."""
    seconds = [
        Second(
            at=float(t),
            load_kw=100.0,
            capacity_kw=200.0 if t < 6 else 300.0,
            booked_kw=10.0 * t,
            spread=1.0,
        )
        for t in range(12)
    ]
    returns = [Return("b", 0.0, 100.0), Return("c", 6.0, 100.0)]
    at_least, this_run = bound_window(seconds, 0.0, 12.0, returns, line=0.1)
    assert this_run == 12
    assert at_least == 6 + 2  # t = 0-5, then t = 6-7


def test_returns_within_a_session_of_another_share_its_window() -> None:
    overlapping = load_scenario(Path("scenarios/overlapping-failures.yaml"))
    assert [
        (start, end, [back.substation for back in returns])
        for start, end, returns in return_windows(overlapping)
    ] == [(630.0, 690.0, ["north", "west"])]
    single = load_scenario(Path("scenarios/substation-failure.yaml"))
    assert [(start, end) for start, end, _ in return_windows(single)] == [(630.0, 690.0)]


def test_a_window_ends_where_a_substation_back_in_it_fails_again(tmp_path: Path) -> None:
    """Out again, it loses what it took, so its load no longer only grows."""
    made = write_scenario(
        tmp_path,
        duration_s=400,
        arrivals={"rate": [[0, 1], [400, 1]]},
        failures=[
            {"substation": "a", "at": 60, "until": 150},
            {"substation": "a", "at": 180, "until": 200},
            {"substation": "b", "at": 300, "until": 390},
        ],
    )
    windows = [(start, end) for start, end, _ in return_windows(load_scenario(made))]
    assert windows == [(150.0, 180.0), (200.0, 260.0), (390.0, 400.0)]


def test_the_run_notes_what_was_booked_by_the_moment_of_each_return(tmp_path: Path) -> None:
    """Between what the samples either side of the return had booked (the sample at the
    return's own second comes after it)."""
    made = write_scenario(
        tmp_path,
        duration_s=240,
        arrivals={"rate": [[0, 2], [240, 2]]},
        failures=[{"substation": "a", "at": 60, "until": 150}],
    )
    simulation = SampledSimulation(load_scenario(made), "headroom", 0)
    simulation.run()
    booked = {second.at: second.booked_kw for second in simulation.seconds}
    noted = simulation.booked_by_return
    assert list(noted) == [("a", 150.0)]
    assert 0 < booked[149.0] <= noted["a", 150.0] <= booked[150.0]


def test_no_run_beats_the_bound(tmp_path: Path) -> None:
    """Through the command, on a small grid that loses its biggest substation: every policy's
    seconds over one request after the return are at least the bound."""
    scenario = write_scenario(
        tmp_path,
        substations=[
            {"name": "a", "capacity_kw": 300},
            {"name": "b", "capacity_kw": 150},
            {"name": "c", "capacity_kw": 150},
        ],
        arrivals={"rate": [[0, 2], [240, 2]]},
        failures=[{"substation": "a", "at": 60, "until": 150}],
    )
    for policy in ("headroom", "round-robin"):
        command = [sys.executable, "-m", "proxy.simulate.bound", str(scenario), "--json"]
        done = subprocess.run(
            [*command, "--policy", policy], capture_output=True, text=True, check=True
        )
        (window,) = json.loads(done.stdout)
        assert (window["start"], window["end"]) == (150.0, 210.0)
        assert 0 < window["at_least"] <= window["this_run"]
