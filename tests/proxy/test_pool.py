"""The lean upstream pool against raw servers: keep-alive, chunked answers, breaks, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from proxy.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from proxy.pool import PooledUpstream

Reply = Callable[[bytes], bytes | None]  # request bytes -> answer bytes (None: hang up)
RawServer = Callable[[Reply], Awaitable[tuple[str, list[int]]]]


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    """`url, connections = await raw_server(reply)`: a bare TCP server answering with `reply`."""
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> tuple[str, list[int]]:
        connections: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            while True:
                head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
                if not head:
                    break
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                answer = reply(head + body)
                if answer is None:
                    writer.close()
                    return
                writer.write(answer)
                await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections

    yield start
    for server in servers:
        server.close()


def fixed(answer: bytes) -> Reply:
    return lambda request: answer


async def test_pool_reads_a_content_length_answer_and_reuses_the_connection(
    raw_server: RawServer,
) -> None:
    url, connections = await raw_server(
        fixed(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Substation: a\r\n\r\n{}")
    )
    pool = PooledUpstream(1, 2)
    for _ in range(3):
        answer = await pool.send(
            "POST", f"{url}/charge", b"{}", {"Content-Type": "application/json"}
        )
        assert (answer.status, answer.body, answer.headers["x-substation"]) == (201, b"{}", "a")
    assert len(connections) == 1  # one keep-alive connection for all three
    await pool.close()


async def test_pool_reads_a_chunked_answer(raw_server: RawServer) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
    )
    url, _ = await raw_server(fixed(chunked))
    pool = PooledUpstream(1, 2)
    answer = await pool.send("GET", f"{url}/metrics", None, {})
    assert answer.body == b"abcdef"
    await pool.close()


async def test_pool_reports_a_hang_up_as_broken(raw_server: RawServer) -> None:
    url, _ = await raw_server(lambda request: None)
    pool = PooledUpstream(1, 2)
    with pytest.raises(UpstreamBroken):
        await pool.send("POST", f"{url}/charge", b"{}", {})
    await pool.close()


async def test_pool_gives_up_after_the_total_timeout(raw_server: RawServer) -> None:
    url, _ = await raw_server(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
    pool = PooledUpstream(1, 0.2)
    with pytest.raises(UpstreamTimeout):
        await pool.send("GET", f"{url}/x", None, {})
    await pool.close()


async def test_pool_reports_a_closed_port_as_unreachable() -> None:
    pool = PooledUpstream(1, 2)
    with pytest.raises(UpstreamUnreachable):
        await pool.send("GET", "http://127.0.0.1:1/metrics", None, {})
    await pool.close()
