"""The substation's configuration: one frozen value built at the edge from flags and env vars."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from grid.flags import Flag, add_flags, listen_flags, positive, service_parser
from grid.protocol import DEFAULT_REPORT_INTERVAL_S
from substation.naming import default_name

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_CAPACITY_KW = 500.0
DEFAULT_SESSION_SECONDS = 60.0
# What a name may be: it goes out in every answer's `X-Substation` header and as a metric label,
# so printable ASCII (a hostname, a Compose replica's `substation2`, "North 7"), never a line
# break that would end the header.
NAME_PATTERN = re.compile(r"[ -~]{1,253}")


@dataclass(frozen=True, slots=True)
class SubstationConfig:
    name: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    capacity_kw: float = DEFAULT_CAPACITY_KW
    session_seconds: float = DEFAULT_SESSION_SECONDS
    state_path: str | None = None
    admin_token: str | None = field(default=None, repr=False)  # never in a log or traceback
    # The load stream sends at most one report per this many seconds (`substation.feed`).
    report_interval_s: float = DEFAULT_REPORT_INTERVAL_S

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(f"a name is 1-253 printable ASCII characters, not {self.name!r}")
        if not self.capacity_kw > 0:
            raise ValueError(f"capacity must be more than 0 kW, got {self.capacity_kw}")
        if not self.session_seconds > 0:
            raise ValueError(f"session length must be more than 0 s, got {self.session_seconds}")
        if not 0 < self.report_interval_s <= 10:
            raise ValueError(
                f"the report interval must be in (0, 10] s, got {self.report_interval_s}"
            )


# SPEC section 1's settings and ours, each a flag, an env var and a default (`grid.flags`);
# `--name` has a default of its own (`substation.naming`).
FLAGS = (
    *listen_flags(DEFAULT_HOST, DEFAULT_PORT),
    Flag("--capacity-kw", "CAPACITY_KW", positive, DEFAULT_CAPACITY_KW, "most kW granted at once"),
    Flag(
        "--session-seconds",
        "SESSION_SECONDS",
        positive,
        DEFAULT_SESSION_SECONDS,
        "length of a charging session",
    ),
    Flag("--state", "STATE_PATH", str, None, "SQLite file keeping active sessions"),
    Flag(
        "--admin-token",
        "ADMIN_TOKEN",
        str,
        None,
        "bearer token of the admin API; none: admin API off",
        secret=True,
    ),
    Flag(
        "--report-interval",
        "REPORT_INTERVAL",
        positive,
        DEFAULT_REPORT_INTERVAL_S,
        "seconds: at most one load report per this on /load/stream",
    ),
)


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> SubstationConfig:
    """Flags win over env vars, which win over the defaults (SPEC section 1). A bad value of
    either stops with a usage error naming it (`grid.flags`)."""
    parser = service_parser(
        "python -m substation",
        "A substation that books EV charging sessions and never exceeds its capacity.",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="name in headers and metrics (env SUBSTATION_NAME; default: under Compose, "
        "COMPOSE_SERVICE set, <service><replica>, e.g. substation2; else the hostname)",
    )
    add_flags(parser, env, FLAGS)
    args = parser.parse_args(argv)
    try:
        return SubstationConfig(
            name=args.name or default_name(env),
            host=args.host,
            port=args.port,
            capacity_kw=args.capacity_kw,
            session_seconds=args.session_seconds,
            state_path=args.state or None,
            admin_token=args.admin_token or None,
            report_interval_s=args.report_interval,
        )
    except ValueError as error:
        parser.error(str(error))
