"""The vehicle -> session directory, with injected time."""

from __future__ import annotations

from proxy.directory import SessionDirectory, SessionRoute

T0 = 1_800_000_000.0


def route(session_id: str, vehicle_id: str, ends_at: float) -> SessionRoute:
    return SessionRoute(session_id, vehicle_id, "http://s1", ends_at)


def test_directory_finds_an_active_session_by_vehicle_and_by_id() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    assert directory.for_vehicle("EV-1", T0 + 1) == route("a", "EV-1", T0 + 60)
    assert directory.for_session("a", T0 + 1) is not None


def test_directory_forgets_ended_sessions() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    assert directory.for_vehicle("EV-1", T0 + 60) is None
    directory.remember(route("b", "EV-2", T0 + 120), T0 + 61)
    assert len(directory) == 1


def test_directory_keeps_the_newest_session_of_a_vehicle() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    directory.remember(route("b", "EV-1", T0 + 70), T0 + 10)
    assert directory.for_session("a", T0 + 11) is None
    assert directory.for_vehicle("EV-1", T0 + 11) == route("b", "EV-1", T0 + 70)


def test_directory_forget_drops_both_indexes() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    directory.forget("a")
    assert directory.for_vehicle("EV-1", T0) is None
    assert len(directory) == 0


def test_directory_pruning_passes_over_routes_replaced_meanwhile() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    directory.remember(route("b", "EV-1", T0 + 70), T0 + 10)  # EV-1 charges again: a is gone
    directory.remember(route("c", "EV-2", T0 + 120), T0 + 65)  # prunes what ended by T0 + 65
    assert directory.for_vehicle("EV-1", T0 + 65) == route("b", "EV-1", T0 + 70)
    assert len(directory) == 2
    directory.prune(T0 + 70)
    assert directory.for_session("b", T0 + 70) is None
    assert len(directory) == 1
