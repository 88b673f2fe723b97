"""A charge as the proxy takes it: the substation's request, plus what only the proxy reads.

`max_wait_s` lets a client wait at the proxy for room (`proxy.holding`) instead of a 503; it is
judged here with the same words as every other field, and never forwarded to a substation.
"""

from __future__ import annotations

from dataclasses import dataclass

from grid.errors import InvalidRequest
from grid.protocol import ChargeRequest, number_field, parse_charge_fields

MAX_WAIT_S = 300.0
PROXY_FIELDS = frozenset({"max_wait_s"})


@dataclass(frozen=True, slots=True)
class ProxyCharge:
    request: ChargeRequest
    max_wait_s: float = 0.0  # 0: a refusal everywhere is answered at once

    def __init__(self, request: ChargeRequest, max_wait_s: float = 0.0) -> None:
        # Written out, not generated: mypyc compiles this one (docs/performance.md, 2026-12-03).
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "max_wait_s", max_wait_s)


def parse_proxy_charge(body: bytes) -> ProxyCharge:
    """Validate a `POST /charge` body sent to the proxy; raise `InvalidRequest` as a substation
    would, or for a `max_wait_s` outside [0, MAX_WAIT_S]."""
    request, extras = parse_charge_fields(body, PROXY_FIELDS)
    max_wait_s = number_field(extras, "max_wait_s")
    if max_wait_s is None:
        return ProxyCharge(request)
    if not 0 <= max_wait_s <= MAX_WAIT_S:
        raise InvalidRequest(f"max_wait_s must be between 0 and {MAX_WAIT_S:g} seconds")
    return ProxyCharge(request, max_wait_s)
