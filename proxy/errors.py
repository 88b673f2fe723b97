"""The proxy's errors: the shared tree (`grid/errors.py`) and these, each with a status.

ApiError
├── ... (InvalidRequest 400, UnknownSession 404, NoCapacity 503, ...)
├── NoHealthySubstation       503 no_healthy_substation
├── UpstreamBroken            502 upstream_broken
├── UpstreamTimeout           504 upstream_timeout
└── UpstreamUnreachable       503 upstream_unreachable (never sent: safe to try elsewhere)
"""

from __future__ import annotations

from typing import Any

from grid.errors import ApiError, InvalidRequest, NoCapacity, NotFound, UnknownSession

# The shared errors are the proxy's too; this module names them all.
__all__ = [
    "ApiError",
    "InvalidRequest",
    "NoCapacity",
    "NoHealthySubstation",
    "NotFound",
    "UnknownSession",
    "UpstreamBroken",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]


class NoHealthySubstation(ApiError):
    status = 503
    code = "no_healthy_substation"
    retry_after_s = 5

    def to_body(self) -> dict[str, Any]:
        return {**super().to_body(), "retry_after_s": self.retry_after_s}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class UpstreamBroken(ApiError):
    status = 502
    code = "upstream_broken"


class UpstreamTimeout(ApiError):
    status = 504
    code = "upstream_timeout"


class UpstreamUnreachable(ApiError):
    status = 503
    code = "upstream_unreachable"
