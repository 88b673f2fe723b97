"""The one seam between the proxy and the network: send a request to a substation, get its answer.

`Upstream` has one method. The proxy keeps one under an `AppKey`, so tests can put a real
substation app, or a plain function, behind it; in production it is `proxy.pool.PooledUpstream`.
Failures come back as the proxy's errors, split by what they mean for a retry:
`UpstreamUnreachable` (nothing was sent: try another substation), `UpstreamBroken` (the
connection broke before an answer: the router tries another too) and `UpstreamTimeout` (it may
have been booked: do not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

# A substation's answer is a session or an error, far under this; more is a broken peer.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        # Written out, not generated: mypyc compiles this one (docs/performance.md, 2026-12-03).
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)


class Upstream(Protocol):
    async def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> UpstreamAnswer: ...

    async def close(self) -> None: ...
