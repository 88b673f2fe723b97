"""`bench.path`: each part of the charge path timed alone, on the state of a busy proxy."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.path import NOW, AnsweringUpstream, busy_balancer
from proxy.tuning import DEFAULT_TUNING
from proxy.view import slot_of


def test_it_prints_every_part_and_the_whole_charge() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bench.path", "--calls", "50", "--rounds", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(finished.stdout)
    assert len(figures) == 7
    assert "whole charge (ChargeRouter.charge)" in figures
    assert all(isinstance(us, float) and us > 0 for us in figures.values())


def test_the_busy_state_gives_the_outlook_sessions_ending_within_the_lookahead() -> None:
    views = busy_balancer().views()
    first, last = slot_of(NOW), slot_of(NOW + DEFAULT_TUNING.lookahead_s)
    # Every view has sessions ending within the lookahead: the outlook has steps to walk.
    assert all(any(first <= slot <= last for slot in view.ending_kw) for view in views)
    assert all(0.6 < view.projected_utilization < 0.8 for view in views)


async def test_the_upstream_answers_a_booked_session_with_its_load_report() -> None:
    upstream = AnsweringUpstream()
    key = busy_balancer().views()[0].key
    answer = await upstream.send("POST", f"{key}/charge", b"{}", {})
    assert answer.status == 201
    assert float(answer.headers["X-Substation-Load-kW"]) == 11.0
    assert json.loads(answer.body)["granted_kw"] == 11.0
