"""The aiohttp side of the charge protocol, shared by both services: body reading and errors.

`error_middleware` turns every error into SPEC's JSON body with its status, aiohttp's own
HTTP errors (404, 405 with Allow, 413) included, so no client ever sees a text/plain error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from substation.errors import ChargeError, MethodNotAllowed, NotFound, PayloadTooLarge
from substation.protocol import (
    MAX_BODY_BYTES,
    ChargeRequest,
    check_content_type,
    check_declared_length,
    parse_charge_request,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)


async def read_charge_request(request: web.Request, *, allow_wait: bool = False) -> ChargeRequest:
    """Check the media type and size before reading anything, then validate the body."""
    check_content_type(request.headers.get("Content-Type"))
    check_declared_length(request.content_length)
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            # Chunked bodies declare no length: stop reading as soon as the limit is passed.
            raise PayloadTooLarge(f"body is over the limit of {MAX_BODY_BYTES} bytes")
    return parse_charge_request(bytes(body), allow_wait=allow_wait)


def error_response(error: ChargeError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        error.to_body(), status=error.status, headers={**error.headers(), **(headers or {})}
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ChargeError as error:
        return error_response(error)
    except web.HTTPMethodNotAllowed as error:
        allowed = frozenset(error.allowed_methods)
        detail = f"{request.method} is not allowed on {request.path}"
        return error_response(MethodNotAllowed(detail, allowed))
    except web.HTTPNotFound:
        return error_response(NotFound(f"no such resource: {request.path}"))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        body = {"error": error.reason.lower().replace(" ", "_"), "detail": error.text or ""}
        return web.json_response(body, status=error.status)
