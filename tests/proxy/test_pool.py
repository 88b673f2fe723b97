"""The lean upstream pool against raw servers: keep-alive, chunked answers, breaks, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from proxy.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from proxy.pool import PooledUpstream

# Request bytes -> answer bytes, or its pieces (written 10 ms apart; a last empty piece: then
# hang up), or None: hang up.
Reply = Callable[[bytes], bytes | list[bytes] | None]
RawServer = Callable[[Reply], Awaitable[tuple[str, list[int]]]]


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    """`url, connections = await raw_server(reply)`: a bare TCP server answering with `reply`."""
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> tuple[str, list[int]]:
        connections: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            try:
                while not reader.at_eof():
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                    answer = reply(head + await reader.readexactly(length))
                    if answer is None:
                        return
                    for piece in [answer] if isinstance(answer, bytes) else answer:
                        if not piece:
                            return
                        writer.write(piece)
                        await writer.drain()
                        await asyncio.sleep(0.01 if isinstance(answer, list) else 0)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # the pool closed the connection
            finally:
                writer.close()

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
    url, connections = await raw_server(lambda request: None)
    pool = PooledUpstream(1, 2)
    with pytest.raises(UpstreamBroken):
        await pool.send("POST", f"{url}/charge", b"{}", {})
    await pool.close()
    assert len(connections) == 1  # a new connection's hang-up is not sent again


OK_EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def scripted(*replies: bytes | list[bytes] | None) -> Reply:
    """The n-th request the server reads, on any connection, gets the n-th reply."""
    left = list(replies)
    return lambda request: left.pop(0)


async def test_pool_sends_again_on_a_new_connection_when_a_kept_one_closes_unanswered(
    raw_server: RawServer,
) -> None:
    """The substation closes a kept-alive connection as the next request goes out on it."""
    url, connections = await raw_server(scripted(OK_EMPTY, None, OK_EMPTY))
    pool = PooledUpstream(1, 2)
    assert (await pool.send("POST", f"{url}/charge", b"{}", {})).status == 200
    assert (await pool.send("POST", f"{url}/charge", b"{}", {})).status == 200
    assert len(connections) == 2
    await pool.close()


async def test_pool_sends_again_only_once(raw_server: RawServer) -> None:
    url, connections = await raw_server(scripted(OK_EMPTY, None, None))
    pool = PooledUpstream(1, 2)
    await pool.send("GET", f"{url}/metrics", None, {})
    with pytest.raises(UpstreamBroken):
        await pool.send("GET", f"{url}/metrics", None, {})
    assert len(connections) == 2
    await pool.close()


async def test_pool_does_not_send_again_after_part_of_an_answer(raw_server: RawServer) -> None:
    """Part of an answer came: the substation took the request, so it is not sent twice."""
    url, connections = await raw_server(scripted(OK_EMPTY, [b"HTTP/1.1 201 Created\r\n", b""]))
    pool = PooledUpstream(1, 2)
    await pool.send("POST", f"{url}/charge", b"{}", {})
    with pytest.raises(UpstreamBroken):
        await pool.send("POST", f"{url}/charge", b"{}", {})
    assert len(connections) == 1
    await pool.close()


async def test_pool_reports_broken_when_the_substation_is_gone_by_the_second_try() -> None:
    """Not unreachable: the first request may have reached it before it went down."""

    async def answer_once_then_go(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK_EMPTY)
        await reader.readuntil(b"\r\n\r\n")
        server.close()  # stops listening: the second try is refused
        writer.close()

    server = await asyncio.start_server(answer_once_then_go, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    pool = PooledUpstream(1, 2)
    await pool.send("DELETE", f"{url}/charge/a", None, {})
    with pytest.raises(UpstreamBroken):
        await pool.send("DELETE", f"{url}/charge/a", None, {})
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


async def test_pool_reads_a_chunked_answer_that_comes_in_pieces(raw_server: RawServer) -> None:
    """A chunked answer split mid-chunk across writes, then another on the same connection."""
    pieces = [
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-Substation: b\r\n\r\n5\r\nhe",
        b"llo\r\n6\r\n world\r\n0\r\n\r\n",
    ]
    url, _ = await raw_server(lambda request: pieces)
    pool = PooledUpstream(1, 2)
    for _ in range(2):
        answer = await pool.send("POST", f"{url}/charge", b"{}", {})
        assert (answer.status, answer.body, answer.headers["X-Substation"]) == (
            201,
            b"hello world",
            "b",
        )
    await pool.close()


async def test_pool_does_not_keep_a_connection_the_substation_closes(
    raw_server: RawServer,
) -> None:
    url, connections = await raw_server(
        fixed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    )
    pool = PooledUpstream(1, 2)
    for _ in range(2):
        answer = await pool.send("GET", f"{url}/healthz", None, {})
        assert (answer.status, answer.body) == (200, b"ok")
    assert len(connections) == 2  # a new connection for the second: the first was closed
    await pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n", id="announced-oversize"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"8000\r\n" + b"x" * 0x8000 + b"\r\n" for _ in range(3)),
            id="chunked-oversize",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"y" * 200_000, id="endless-head"),
        pytest.param(b"SMTP ready\r\n\r\n", id="garbage"),
        pytest.param(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", id="bad-status"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", id="bad-length"),
    ],
)
async def test_pool_reports_a_broken_answer_as_broken_and_drops_the_connection(
    raw_server: RawServer, answer: bytes
) -> None:
    url, connections = await raw_server(fixed(answer))
    pool = PooledUpstream(1, 2)
    with pytest.raises(UpstreamBroken):
        await pool.send("POST", f"{url}/charge", b"{}", {})
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    url_ok, _ = await raw_server(fixed(ok))
    assert (await pool.send("GET", f"{url_ok}/healthz", None, {})).status == 200  # pool fine
    await pool.close()
    assert len(connections) == 1
