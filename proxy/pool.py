"""A lean keep-alive HTTP/1.1 client for the proxy's few, known upstreams (the substations).

aiohttp's `ClientSession` is general (redirects, cookies, tracing, proxies, per-request timeout
objects); the proxy needs none of it, and a profile put about 40 % of its CPU there. This pool
keeps idle connections per substation, writes each request in one call, and parses the answer
with a minimal parser: a status line, headers, and a body sized by Content-Length or chunked.
One request at a time per connection (no pipelining). The server side stays aiohttp's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from proxy.upstream import MAX_ANSWER_BYTES, UpstreamAnswer

MAX_IDLE_PER_SUBSTATION = 256
MAX_REMEMBERED_REQUEST_LINES = 1024
_HEAD_END = b"\r\n\r\n"


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `exchange` sends a request and awaits its whole answer."""

    def __init__(self) -> None:
        # Kept: asyncio.get_running_loop() makes a getpid() system call on every call.
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self._buffer = bytearray()
        self._answer: asyncio.Future[UpstreamAnswer] | None = None
        self._head: tuple[int, CIMultiDictProxy[str], int | None, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.reusable = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionResetError("the substation closed the connection"))

    def exchange(self, request: bytes) -> asyncio.Future[UpstreamAnswer]:
        assert self.transport is not None
        self._answer = self.loop.create_future()
        self._buffer.clear()
        self._head = None
        self.transport.write(request)
        return self._answer

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._answer is None or self._answer.done():
            self.close()  # nobody asked: a broken peer
            return
        try:
            answer = self._parse()
        except ValueError as error:
            self._answer.set_exception(error)
            self.close()
            return
        if answer is not None:
            self._answer.set_result(answer)

    def _parse(self) -> UpstreamAnswer | None:
        if self._head is None:
            end = self._buffer.find(_HEAD_END)
            if end < 0:
                if len(self._buffer) > MAX_ANSWER_BYTES:
                    raise ValueError("answer head too large")
                return None
            self._head = _parse_head(bytes(self._buffer[:end]), end + len(_HEAD_END))
        status, headers, length, body_start = self._head
        if length is None:
            body = _dechunk(self._buffer, body_start)
            if body is None:
                return None
        else:
            if len(self._buffer) - body_start < length:
                return None
            body = bytes(self._buffer[body_start : body_start + length])
        if headers.get("Connection", "").lower() == "close":
            self.close()
        return UpstreamAnswer(status, headers, body)


def _parse_head(head: bytes, body_start: int) -> tuple[int, CIMultiDictProxy[str], int | None, int]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    if not status_line.startswith("HTTP/1.") or len(status_line) < 12:
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:40]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        length = None
    else:
        length = int(headers.get("Content-Length", "0"))
        if length > MAX_ANSWER_BYTES:
            raise ValueError(f"answer of {length} bytes")
    return int(status_line[9:12]), CIMultiDictProxy(headers), length, body_start


def _dechunk(buffer: bytearray, start: int) -> bytes | None:
    """The body if every chunk has arrived, else None."""
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        chunk_start = line_end + 2
        if size == 0:
            return bytes(body) if buffer.find(_HEAD_END[:2], chunk_start) >= 0 else None
        if len(buffer) < chunk_start + size + 2:
            return None
        body += buffer[chunk_start : chunk_start + size]
        if len(body) > MAX_ANSWER_BYTES:
            raise ValueError("chunked answer too large")
        position = chunk_start + size + 2


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
        connection = await self._connection(host, port, url)
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
        self._release(host, port, connection)
        return result

    async def _connection(self, host: str, port: int, url: str) -> _Connection:
        idle = self._idle.get((host, port))
        while idle:
            connection = idle.pop()
            if connection.reusable:
                return connection
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):  # see grid.background.stop
                _, connection = await loop.create_connection(_Connection, host, port)
        except (OSError, TimeoutError) as error:
            raise UpstreamUnreachable(f"cannot reach {url}: {error!r}") from error
        return connection

    def _release(self, host: str, port: int, connection: _Connection) -> None:
        idle = self._idle.setdefault((host, port), [])
        if connection.reusable and len(idle) < MAX_IDLE_PER_SUBSTATION:
            idle.append(connection)
        else:
            connection.close()

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


def _expire(answer: asyncio.Future[UpstreamAnswer]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())
