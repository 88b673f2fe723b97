"""Substation names under Compose: the service and the replica number, never a container id."""

from __future__ import annotations

import socket

import pytest

from substation.naming import default_name, name_from_replica


@pytest.mark.parametrize(
    ("dns_name", "expected"),
    [
        ("smart-grid-substation-2.smart-grid_default", "substation2"),  # Compose v2
        ("smartgrid_substation_3.smartgrid_default", "substation3"),  # docker-compose 1.x
        ("my-city-substation-12", "substation12"),  # a project name with dashes
        ("substation-1.grid_default", "substation1"),  # container_name: substation-1
        ("smart-grid-proxy-1.smart-grid_default", None),  # another service
        ("smart-grid-substationx-1.smart-grid_default", None),
        ("3f9c2a1b7d4e", None),  # a container id: no replica of the service
    ],
)
def test_a_replica_is_named_by_its_service_and_number(dns_name: str, expected: str | None) -> None:
    assert name_from_replica(dns_name, "substation") == expected


def test_compose_replicas_get_their_service_and_number() -> None:
    env = {"COMPOSE_SERVICE": "substation"}
    # Podman: /etc/hosts has the id first, the container's name beside it.
    assert default_name(env, lambda: ["3f9c2a1b7d4e", "grid-substation-2"]) == "substation2"
    # Docker: the id from /etc/hosts, then the embedded DNS's answer.
    assert default_name(env, lambda: ["3f9c2a1b7d4e", "grid-substation-3.grid_default"]) == (
        "substation3"
    )


def test_an_explicit_name_wins_and_no_compose_means_the_hostname() -> None:
    assert default_name({"SUBSTATION_NAME": "north", "COMPOSE_SERVICE": "substation"}) == "north"
    assert default_name({}, lambda: ["grid-substation-2"]) == socket.gethostname()
    assert default_name({"COMPOSE_SERVICE": "substation"}, list) == socket.gethostname()


def test_a_failed_lookup_falls_back_to_the_hostname() -> None:
    def no_dns() -> list[str]:
        raise socket.gaierror("no address for this hostname")

    assert default_name({"COMPOSE_SERVICE": "substation"}, no_dns) == socket.gethostname()
