"""A lean keep-alive HTTP/1.1 client for the proxy's few, known upstreams (the substations).

aiohttp's `ClientSession` is general (redirects, cookies, tracing, proxies, per-request timeout
objects); the proxy needs none of it, and a profile put about 40 % of its CPU there. This pool
keeps idle connections per substation, writes each request in one call, and reads each answer
with httptools (llhttp, the parser of Node.js, from uvloop's authors): status, headers, a body
sized by Content-Length or chunked, and whether the connection may be kept. One request at a
time per connection (no pipelining). The server side stays aiohttp's.

A kept-alive connection can be closed by the substation (its idle timeout, a restart) just as a
request goes out on it. A request whose reused connection closes before any byte of the answer
is sent once more on a new connection, as aiohttp's client and urllib3 retry idempotent
requests. Every request the proxy sends a substation is idempotent there: a vehicle that asks
again gets the session it has (SPEC), `GET` and `DELETE /charge/{id}` and `GET /metrics` are, and
drain and resume set a state. A new connection's failure, or one after part of an answer, is
never sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from proxy.upstream import MAX_ANSWER_BYTES, UpstreamAnswer

MAX_IDLE_PER_SUBSTATION = 256
MAX_REMEMBERED_REQUEST_LINES = 1024


class AnswerTooLarge(ValueError):
    """An answer's head or body over `MAX_ANSWER_BYTES`: a broken peer, not a substation."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `exchange` sends a request and awaits its whole answer.

    httptools calls the `on_*` methods from `feed_data` as the answer's parts arrive."""

    def __init__(self) -> None:
        # Kept: asyncio.get_running_loop() makes a getpid() system call on every call.
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.closed_unanswered = False  # closed before any byte of the answer to a request
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[UpstreamAnswer] | None = None
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._received = 0  # bytes of this answer so far, head included

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.reusable = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            self.closed_unanswered = self._received == 0
            self._answer.set_exception(ConnectionResetError("the substation closed the connection"))

    def exchange(self, request: bytes) -> asyncio.Future[UpstreamAnswer]:
        assert self.transport is not None
        self._answer = self.loop.create_future()
        self._headers = CIMultiDict()
        self._body = []
        self._body_bytes = self._received = 0
        self.transport.write(request)
        return self._answer

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # nobody asked: a broken peer
            return
        self._received += len(data)
        try:
            if self._received > 2 * MAX_ANSWER_BYTES:  # head and body together, at most
                raise AnswerTooLarge(f"over {2 * MAX_ANSWER_BYTES} bytes")
            self._parser.feed_data(data)
        except (httptools.HttpParserError, AnswerTooLarge) as error:
            cause = error.__context__ if isinstance(error.__context__, AnswerTooLarge) else error
            if not self._answer.done():
                self._answer.set_exception(ValueError(f"not a good answer: {cause}"))
            self.close()

    # httptools' callbacks.

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        length = self._headers.get(hdrs.CONTENT_LENGTH)
        if length is not None and length.isdigit() and int(length) > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"an answer of {length} bytes")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._body_bytes += len(body)
        if self._body_bytes > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"a body over {MAX_ANSWER_BYTES} bytes")

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.close()
        assert self._answer is not None
        if not self._answer.done():
            status = self._parser.get_status_code()
            body = b"".join(self._body)
            self._answer.set_result(UpstreamAnswer(status, CIMultiDictProxy(self._headers), body))


class PooledUpstream:
    """The `Upstream` seam over pooled keep-alive connections."""

    def __init__(self, connect_timeout_s: float, total_timeout_s: float) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._total_timeout_s = total_timeout_s
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._request_lines: dict[tuple[str, str], tuple[str, int, bytes]] = {}

    async def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> UpstreamAnswer:
        host, port, request_line = self._request_line(method, url)
        payload = body or b""
        head = [request_line]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"Content-Length: %d\r\n\r\n" % len(payload))
        request = b"".join(head) + payload
        idle = self._idle.setdefault((host, port), [])
        connection = _idle_connection(idle)
        if connection is None:
            return await self._exchange(await self._connect(host, port, url), request, url, idle)
        try:
            return await self._exchange(connection, request, url, idle)
        except UpstreamBroken as broken:
            if not connection.closed_unanswered:
                raise
            try:  # closed as the request went out: once more, on a new connection
                connection = await self._connect(host, port, url)
            except UpstreamUnreachable:
                raise broken from None  # the first may have reached it before it went down
        return await self._exchange(connection, request, url, idle)

    async def _exchange(
        self, connection: _Connection, request: bytes, url: str, idle: list[_Connection]
    ) -> UpstreamAnswer:
        """One request on one connection, and its whole answer; the connection kept if it may be."""
        answer = connection.exchange(request)
        timer = connection.loop.call_later(self._total_timeout_s, _expire, answer)
        try:
            result = await answer
        except TimeoutError as error:
            connection.close()
            raise UpstreamTimeout(f"{url} did not answer in {self._total_timeout_s:g} s") from error
        except (OSError, ValueError) as error:
            connection.close()
            raise UpstreamBroken(f"{url} broke off: {error}") from error
        finally:
            timer.cancel()
        if connection.reusable and len(idle) < MAX_IDLE_PER_SUBSTATION:
            idle.append(connection)
        else:
            connection.close()
        return result

    async def _connect(self, host: str, port: int, url: str) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):  # see grid.background.stop
                _, connection = await loop.create_connection(_Connection, host, port)
        except (OSError, TimeoutError) as error:
            raise UpstreamUnreachable(f"cannot reach {url}: {error!r}") from error
        return connection

    def _request_line(self, method: str, url: str) -> tuple[str, int, bytes]:
        """Host, port, and the request line with the Host header; the common ones remembered."""
        key = (method, url)
        known = self._request_lines.get(key)
        if known is None:
            parts = urlsplit(url)
            path = url[len(f"{parts.scheme}://{parts.netloc}") :] or "/"
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            line = f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")
            known = (host, port, line)
            if len(self._request_lines) >= MAX_REMEMBERED_REQUEST_LINES:
                self._request_lines.clear()  # session URLs are many; /charge ones are few
            self._request_lines[key] = known
        return known

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


def _idle_connection(idle: list[_Connection]) -> _Connection | None:
    while idle:
        connection = idle.pop()
        if connection.reusable:
            return connection
    return None


def _expire(answer: asyncio.Future[UpstreamAnswer]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())
