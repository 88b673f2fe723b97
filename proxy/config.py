"""The proxy's configuration: one frozen value built at the edge from flags and env vars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from grid.flags import (
    SWITCH_METAVAR,
    Flag,
    add_flags,
    base_urls,
    count,
    host_and_port,
    listen_flags,
    one_of,
    positive,
    service_parser,
    switch,
)
from proxy.balancer import POLICIES, Policy
from proxy.shard import Shard, parse_shard

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_POLL_INTERVAL_S = 5.0
DEFAULT_DOWN_POLL_INTERVAL_S = 1.0
DEFAULT_RETRIES = 2
DEFAULT_CONNECT_TIMEOUT_S = 1.0
DEFAULT_UPSTREAM_TIMEOUT_S = 10.0
DEFAULT_SHUTDOWN_TIMEOUT_S = 10.0
NO_SUBSTATIONS: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    substations: tuple[str, ...] = ()  # base URLs
    discover: str | None = None  # host:port whose DNS A records are the substations
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    down_poll_interval_s: float = DEFAULT_DOWN_POLL_INTERVAL_S
    policy: Policy = "headroom"
    retries: int = DEFAULT_RETRIES
    admin_token: str | None = field(default=None, repr=False)  # never in a log or traceback
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    upstream_timeout_s: float = DEFAULT_UPSTREAM_TIMEOUT_S
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    workers: int = 1
    # Follow every substation's `GET /load/stream` (off: polls alone, as before the stream).
    load_stream: bool = True
    # This proxy's share of the substations when several proxies run (`proxy.shard`); each
    # worker of `--workers` gets its own part of it (`worker_shard`).
    shard: Shard | None = None
    # The workers of `--workers` tell each other their bookings through shared memory
    # (`proxy.siblings`); off: each learns the others' only from the substations' reports.
    share_bookings: bool = True
    # Rule 2 of `headroom` (up to 8 substations) judges each place by this many sampled
    # futures (`proxy.rollout`); 0, as by default: by the 5-second outlook alone.
    rollout_draws: int = 0

    def __post_init__(self) -> None:
        if not self.substations and not self.discover:
            raise ValueError("give the substations (--substations) or a name to --discover")
        if self.workers < 1:
            raise ValueError(f"workers must be 1 or more, got {self.workers}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
        if not self.poll_interval_s > 0 or not self.down_poll_interval_s > 0:
            raise ValueError("poll intervals must be more than 0 s")
        if not 0 < self.connect_timeout_s <= self.upstream_timeout_s:
            raise ValueError("timeouts must be more than 0, the connect one at most the total")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}")


_POLICY_METAVAR = "{" + ",".join(POLICIES) + "}"

# SPEC section 2's settings and ours, each a flag, an env var and a default (`grid.flags`).
FLAGS = (
    *listen_flags(DEFAULT_HOST, DEFAULT_PORT),
    Flag(
        "--substations",
        "SUBSTATIONS",
        base_urls,
        NO_SUBSTATIONS,
        "comma-separated base URLs, e.g. http://127.0.0.1:8001,http://127.0.0.1:8002",
    ),
    Flag(
        "--discover", "DISCOVER", host_and_port, None, "host:port whose A records are substations"
    ),
    Flag(
        "--poll-interval",
        "POLL_INTERVAL",
        positive,
        DEFAULT_POLL_INTERVAL_S,
        "seconds between polls of each substation's /metrics",
    ),
    Flag(
        "--down-poll-interval",
        "DOWN_POLL_INTERVAL",
        positive,
        DEFAULT_DOWN_POLL_INTERVAL_S,
        "seconds between polls of a substation taken out, to see it back",
    ),
    Flag(
        "--load-stream",
        "LOAD_STREAM",
        switch,
        "on",
        "follow each substation's /load/stream (off: polls alone)",
        SWITCH_METAVAR,
    ),
    Flag(
        "--policy",
        "POLICY",
        one_of(POLICIES),
        "headroom",
        "how a substation is picked for each charge",
        _POLICY_METAVAR,
    ),
    Flag("--retries", "RETRIES", count, DEFAULT_RETRIES, "more substations to ask after a refusal"),
    Flag(
        "--admin-token",
        "ADMIN_TOKEN",
        str,
        None,
        "bearer token of the admin API (drain, resume); none: admin API off",
        secret=True,
    ),
    Flag(
        "--connect-timeout",
        "CONNECT_TIMEOUT",
        positive,
        DEFAULT_CONNECT_TIMEOUT_S,
        "seconds to connect to a substation before trying another",
    ),
    Flag(
        "--upstream-timeout",
        "UPSTREAM_TIMEOUT",
        positive,
        DEFAULT_UPSTREAM_TIMEOUT_S,
        "seconds a substation has to answer before the client gets 504",
    ),
    Flag(
        "--workers",
        "WORKERS",
        count,
        1,
        "processes sharing the port (SO_REUSEPORT), each with its own view",
    ),
    Flag(
        "--shard",
        "SHARD",
        str,
        None,
        "I/N: this is proxy I of N replicas (0-based; 0/1: alone); each prefers its own "
        "share of the substations, so that the replicas' choices do not collide. Workers that "
        "tell each other their bookings share it; with --share-bookings off they split it",
    ),
    Flag(
        "--share-bookings",
        "SHARE_BOOKINGS",
        switch,
        "on",
        "workers tell each other their bookings at once, through shared memory "
        "(off: only through the substations' load reports)",
        SWITCH_METAVAR,
    ),
    Flag(
        "--rollout-draws",
        "ROLLOUT_DRAWS",
        count,
        0,
        "up to 8 substations, judge each place for a charge by this many sampled minutes of "
        "arrivals (0: off; 48 as measured in docs/balance-lab.md; milliseconds a charge)",
    ),
)


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> ProxyConfig:
    """Flags win over env vars, which win over the defaults (SPEC section 2). A bad value of
    either stops with a usage error naming it (`grid.flags`)."""
    parser = service_parser(
        "python -m proxy", "The public charge endpoint: balances EV charges across substations."
    )
    add_flags(parser, env, FLAGS)
    args = parser.parse_args(argv)
    try:
        return ProxyConfig(
            substations=args.substations,
            discover=args.discover,
            host=args.host,
            port=args.port,
            poll_interval_s=args.poll_interval,
            down_poll_interval_s=args.down_poll_interval,
            policy=cast(Policy, args.policy),
            retries=args.retries,
            admin_token=args.admin_token or None,
            connect_timeout_s=args.connect_timeout,
            upstream_timeout_s=args.upstream_timeout,
            workers=args.workers,
            load_stream=args.load_stream == "on",
            shard=parse_shard(args.shard) if args.shard else None,
            share_bookings=args.share_bookings == "on",
            rollout_draws=args.rollout_draws,
        )
    except ValueError as error:
        parser.error(str(error))
