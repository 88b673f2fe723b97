"""The substation's default name: stable under `docker compose up --scale`, readable locally.

Under Compose a container's hostname is its id (`3f9c2a...`), which would put hex in dashboard
legends, `/substations`, logs and headers, and change at every recreate. Compose names each
replica `<project>-<service>-<n>` (v2; `<project>_<service>_<n>` in v1), and that name is what
the container's address is called: Docker's embedded DNS answers a reverse (PTR) query for it
with `<container>.<network>`, and Podman writes it into /etc/hosts beside the id. So when
`COMPOSE_SERVICE` says which service this is, the name is the service and the replica number,
`substation2`, as the local stack names its second substation. Without it (or when neither
knows the address), the hostname.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable, Mapping

import dns.exception
import dns.resolver


def name_from_replica(dns_name: str, service: str) -> str | None:
    """`substation2` from `grid-substation-2.grid_default` (or `grid_substation_2`) for
    service `substation`; None when `dns_name` is not a replica of that service."""
    label = dns_name.split(".", 1)[0]
    found = re.fullmatch(rf"(?:.+[-_])?{re.escape(service)}[-_](\d+)", label)
    return f"{service}{int(found.group(1))}" if found else None


def names_of_this_container() -> list[str]:
    """What this container's address is called, by /etc/hosts (Podman) and by a DNS reverse
    query (Docker, whose /etc/hosts knows only the id): dnspython asks the nameserver directly."""
    address = socket.gethostbyname(socket.gethostname())
    names: list[str] = []
    with contextlib.suppress(OSError):
        primary, aliases, _ = socket.gethostbyaddr(address)
        names += [primary, *aliases]
    with contextlib.suppress(dns.exception.DNSException):
        answer = dns.resolver.resolve_address(address, lifetime=2.0)
        names += [str(record).rstrip(".") for record in answer]
    return names


def default_name(
    env: Mapping[str, str], lookup: Callable[[], list[str]] = names_of_this_container
) -> str:
    """`SUBSTATION_NAME`; else, under Compose (`COMPOSE_SERVICE`), `<service><replica>`; else
    the hostname."""
    if env.get("SUBSTATION_NAME"):
        return env["SUBSTATION_NAME"]
    service = env.get("COMPOSE_SERVICE")
    if service:
        try:
            names = lookup()
        except OSError:
            names = []
        for name in names:
            replica = name_from_replica(name, service)
            if replica:
                return replica
    return socket.gethostname()
