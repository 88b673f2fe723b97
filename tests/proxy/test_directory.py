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


def test_pruning_passes_over_routes_replaced_meanwhile() -> None:
    """A vehicle's route replaced (here a load stream's, by the answer to its next charge)
    leaves its expiry entry behind, stale: pruning that entry keeps the route that replaced it."""
    directory = SessionDirectory()
    directory.remember_vehicle("EV-1", "http://s2", T0 + 60, T0)  # told by the stream
    directory.remember(route("b", "EV-1", T0 + 300), T0 + 61)
    pruned_at = T0 + 61 + ENDED_ROUTE_KEEP_S  # the stream's route is past its time
    directory.remember(route("c", "EV-2", T0 + 400), pruned_at)
    assert directory.for_vehicle("EV-1", pruned_at) == route("b", "EV-1", T0 + 300)
    assert directory.for_session("b", pruned_at) == route("b", "EV-1", T0 + 300)
    assert len(directory) == 2


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
