"""The substation's default name: stable under `docker compose up --scale`, readable locally.

Under Compose a container's hostname is its id (`3f9c2a...`), which would put hex in dashboard
legends, `/substations`, logs and headers, and change at every recreate. Compose names each
replica `<project>-<service>-<n>` (v2; `<project>_<service>_<n>` in v1) and Docker's DNS
answers a reverse lookup of its address with that name. So when `COMPOSE_SERVICE` says which
service this is, the name is the service and the replica number: `substation2`, as the local
stack names its second substation. Without it (or when the lookup fails), the hostname.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping


def name_from_replica(dns_name: str, service: str) -> str | None:
    """`substation2` from `grid-substation-2.grid_default` (or `grid_substation_2`) for
    service `substation`; None when `dns_name` is not a replica of that service."""
    label = dns_name.split(".", 1)[0]
    found = re.fullmatch(rf"(?:.+[-_])?{re.escape(service)}[-_](\d+)", label)
    return f"{service}{int(found.group(1))}" if found else None


def reverse_dns_name() -> str:
    """This container's name as Docker's DNS knows it (reverse lookup of its own address)."""
    address = socket.gethostbyname(socket.gethostname())
    return socket.gethostbyaddr(address)[0]


def default_name(env: Mapping[str, str], lookup: Callable[[], str] = reverse_dns_name) -> str:
    """`SUBSTATION_NAME`; else, under Compose (`COMPOSE_SERVICE`), `<service><replica>`; else
    the hostname."""
    if env.get("SUBSTATION_NAME"):
        return env["SUBSTATION_NAME"]
    service = env.get("COMPOSE_SERVICE")
    if service:
        try:
            name = name_from_replica(lookup(), service)
        except OSError:
            name = None
        if name:
            return name
    return socket.gethostname()
