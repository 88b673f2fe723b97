"""Errors the services answer with, each carrying the HTTP status it becomes.

    ApiError                          (any status; JSON body {"error", "detail"})
    ├── InvalidRequest                400 invalid_request
    ├── Unauthorized                  401 unauthorized
    ├── Forbidden                     403 forbidden
    ├── UnknownSession                404 unknown_session
    ├── NotFound                      404 not_found
    ├── MethodNotAllowed              405 method_not_allowed (with Allow)
    ├── RequestTimeout                408 request_timeout (a body that trickles in)
    ├── PayloadTooLarge               413 payload_too_large
    ├── UnsupportedMediaType          415 unsupported_media_type
    └── NoCapacity                    503 no_capacity (with Retry-After)

Both services answer with these; the proxy adds its own in `proxy/errors.py`. Nothing here
knows about aiohttp: `grid.httpio.error_response` turns an error into a response with
`to_body()` and `headers()`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

# A refusal's `room_in_s` (`NoCapacity`): seconds until the refusing substation has room.
HEADER_ROOM_IN = "X-Substation-Room-In"


class ApiError(Exception):
    """An error a service answers with: its status, its code and a detail for a person."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def to_body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail}

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(ApiError):
    status = 400
    code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class UnknownSession(ApiError):
    status = 404
    code = "unknown_session"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, detail: str, allowed: frozenset[str]) -> None:
        super().__init__(detail)
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(sorted(self.allowed))}


class RequestTimeout(ApiError):
    status = 408
    code = "request_timeout"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class NoCapacity(ApiError):
    """No room for the request; `retry_after_s` says when enough power frees up.

    `room_in_s`, when the refusing substation knows it, is that moment to the millisecond: its
    ledger has the end of every session, so it can say "in 15 ms" where `Retry-After` can only
    say "1". A proxy waits that long for a last look instead of turning the driver away
    (`proxy.attempt`); it goes out as `X-Substation-Room-In` (seconds) and `room_in_s`.
    """

    status = 503
    code = "no_capacity"

    def __init__(
        self,
        detail: str,
        retry_after_s: float,
        headroom_kw: float | None,
        room_in_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        # Retry-After is whole seconds and never 0: a client told "0" would hammer us.
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        self.headroom_kw = headroom_kw
        self.room_in_s = None if room_in_s is None else round(max(0.0, room_in_s), 3)

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        body["retry_after_s"] = self.retry_after_s
        if self.headroom_kw is not None:
            body["headroom_kw"] = self.headroom_kw
        if self.room_in_s is not None:
            body["room_in_s"] = self.room_in_s
        return body

    def headers(self) -> dict[str, str]:
        if self.room_in_s is None:
            return {"Retry-After": str(self.retry_after_s)}
        return {"Retry-After": str(self.retry_after_s), HEADER_ROOM_IN: f"{self.room_in_s:.3f}"}
