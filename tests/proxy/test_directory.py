"""The vehicle -> session directory, with injected time."""

from __future__ import annotations

from grid.session_ids import session_id_maker
from proxy.directory import ENDED_ROUTE_KEEP_S, SessionDirectory, SessionRoute, owners_to_ask
from proxy.view import SubstationView

T0 = 1_800_000_000.0


def route(session_id: str, vehicle_id: str, ends_at: float) -> SessionRoute:
    return SessionRoute(session_id, vehicle_id, "http://s1", ends_at)


def test_directory_finds_an_active_session_by_vehicle_and_by_id() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    assert directory.for_vehicle("EV-1", T0 + 1) == route("a", "EV-1", T0 + 60)
    assert directory.for_session("a", T0 + 1) is not None


def test_directory_routes_an_ended_session_a_while_but_never_a_vehicle_to_it() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    assert directory.for_vehicle("EV-1", T0 + 60) is None  # its repeat is a new charge
    assert directory.for_session("a", T0 + 60 + ENDED_ROUTE_KEEP_S - 1) == route(
        "a", "EV-1", T0 + 60
    )
    assert directory.for_session("a", T0 + 60 + ENDED_ROUTE_KEEP_S) is None
    directory.remember(route("b", "EV-2", T0 + 120), T0 + 61)
    assert len(directory) == 2
    directory.remember(route("c", "EV-3", T0 + 200), T0 + 60 + ENDED_ROUTE_KEEP_S)
    assert len(directory) == 2  # a's route is pruned


def test_directory_keeps_the_newest_session_of_a_vehicle_and_the_route_of_its_last() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    directory.remember(route("b", "EV-1", T0 + 70), T0 + 10)  # a was stopped meanwhile
    assert directory.for_vehicle("EV-1", T0 + 11) == route("b", "EV-1", T0 + 70)
    assert directory.for_session("a", T0 + 11) == route("a", "EV-1", T0 + 60)  # its owner says


def test_directory_forget_drops_both_indexes() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    directory.forget("a")
    assert directory.for_vehicle("EV-1", T0) is None
    assert directory.for_session("a", T0) is None
    assert len(directory) == 0


def test_directory_pruning_passes_over_routes_forgotten_meanwhile() -> None:
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    directory.remember(route("b", "EV-1", T0 + 70), T0 + 10)
    directory.forget("a")  # stopped: its expiry entry stays behind, stale
    directory.remember(route("c", "EV-2", T0 + 400), T0 + 65 + ENDED_ROUTE_KEEP_S)
    assert directory.for_vehicle("EV-2", T0 + 66 + ENDED_ROUTE_KEEP_S) == route(
        "c", "EV-2", T0 + 400
    )
    assert len(directory) == 2
    directory.prune(T0 + 70 + ENDED_ROUTE_KEEP_S)
    assert directory.for_session("b", T0 + 70 + ENDED_ROUTE_KEEP_S) is None
    assert len(directory) == 1


def test_a_session_without_a_route_is_asked_of_the_substations_its_id_may_name() -> None:
    north, south, unnamed = (
        SubstationView("http://n", "north"),
        SubstationView("http://s", "south"),
        SubstationView("http://u", "http://u"),  # no report yet: named by its key
    )
    views = [north, south, unnamed]
    tagged = session_id_maker("south")()
    assert owners_to_ask(tagged, views) == ["http://s", "http://u"]
    assert owners_to_ask(tagged, [north]) == []
    assert owners_to_ask("0f" * 16, views) == ["http://n", "http://s", "http://u"]
    assert owners_to_ask("s1", views) == []


def test_a_vehicle_told_of_by_a_stream_is_routed_until_its_session_ends() -> None:
    """A booking the load stream told of: no session id, only where the vehicle charges. A
    later end wins (a newer session); the same or an earlier one changes nothing."""
    directory = SessionDirectory()
    directory.remember(route("a", "EV-1", T0 + 60), T0)
    directory.remember_vehicle("EV-1", "http://s2", T0 + 60, T0)  # the same session, heard
    directory.remember_vehicle("EV-1", "http://s1", T0 + 60.001, T0)  # rounded, not cut
    assert directory.for_vehicle("EV-1", T0 + 1) == route("a", "EV-1", T0 + 60)
    directory.remember_vehicle("EV-1", "http://s2", T0 + 90, T0 + 30)
    found = directory.for_vehicle("EV-1", T0 + 31)
    assert found is not None and (found.substation, found.session_id) == ("http://s2", "")
    assert directory.for_session("a", T0 + 31) == route("a", "EV-1", T0 + 60)
    assert directory.for_vehicle("EV-1", T0 + 90) is None
    directory.prune(T0 + 90 + ENDED_ROUTE_KEEP_S)
    assert len(directory) == 0 and directory.for_vehicle("EV-1", T0) is None
