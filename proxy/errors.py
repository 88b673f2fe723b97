"""The proxy's errors: the substation's tree (`substation/errors.py`) and these, each with a status.

ChargeError
├── ... (InvalidRequest 400, UnknownSession 404, NoCapacity 503, ...)
├── NoHealthySubstation       503 no_healthy_substation
├── UpstreamBroken            502 upstream_broken
├── UpstreamTimeout           504 upstream_timeout
└── UpstreamUnreachable       503 upstream_unreachable (never sent: safe to try elsewhere)
"""

from __future__ import annotations

from typing import Any

from substation.errors import ChargeError, InvalidRequest, NoCapacity, NotFound, UnknownSession

# The substation's errors are the proxy's too; this module names them all.
__all__ = [
    "ChargeError",
    "InvalidRequest",
    "NoCapacity",
    "NoHealthySubstation",
    "NotFound",
    "UnknownSession",
    "UpstreamBroken",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]


class NoHealthySubstation(ChargeError):
    status = 503
    code = "no_healthy_substation"
    retry_after_s = 5

    def to_body(self) -> dict[str, Any]:
        return {**super().to_body(), "retry_after_s": self.retry_after_s}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class UpstreamBroken(ChargeError):
    status = 502
    code = "upstream_broken"


class UpstreamTimeout(ChargeError):
    status = 504
    code = "upstream_timeout"


class UpstreamUnreachable(ChargeError):
    status = 503
    code = "upstream_unreachable"
