"""The health state machine, table-driven."""

from __future__ import annotations

import pytest

from proxy.health import SERVING, TRANSITIONS, HealthEvent, HealthState, next_health


@pytest.mark.parametrize(
    ("events", "state"),
    [
        ([], "healthy"),
        (["refused"], "down"),
        (["poll_failed"], "suspect"),
        (["timed_out"], "suspect"),
        (["poll_failed", "poll_ok"], "healthy"),
        (["poll_failed", "poll_failed"], "down"),
        (["timed_out", "timed_out"], "down"),
        (["refused", "poll_ok"], "recovering"),
        (["refused", "poll_ok", "poll_ok"], "healthy"),
        (["refused", "poll_ok", "refused"], "down"),
        (["refused", "poll_ok", "poll_failed", "poll_ok"], "recovering"),
        (["refused", "answered"], "recovering"),
        (["refused", "answered", "poll_ok"], "healthy"),
        (["timed_out", "answered"], "healthy"),
    ],
)
def test_health_after_events(events: list[HealthEvent], state: HealthState) -> None:
    current: HealthState = "healthy"
    for event in events:
        current = next_health(current, event)
    assert current == state


def test_every_state_answers_every_event() -> None:
    events = {event for table in TRANSITIONS.values() for event in table}
    assert all(set(table) == events for table in TRANSITIONS.values())


def test_only_healthy_and_suspect_take_charges() -> None:
    assert {"healthy", "suspect"} == SERVING
