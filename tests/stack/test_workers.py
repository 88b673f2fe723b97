"""`python -m proxy --workers 2`: two processes share the port, tell each other their bookings
(`proxy.siblings`), and SIGTERM stops both."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bench.workers import free_layout, seed_burst
from stack.processes import StackLayout, running_stack, wait_until_healthy
from tests.helpers import current_load_kw, free_stack_layout, is_listening


@contextlib.contextmanager
def two_workers(layout: StackLayout) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`python -m proxy --workers 2` on the port after the stack's proxy, in front of its
    substations: its port and process, stopped with SIGTERM (if still running) on the way out."""
    port = layout.proxy_port + 1
    proxy = subprocess.Popen(
        [
            *(sys.executable, "-m", "proxy", "--port", str(port), "--workers", "2"),
            *("--substations", ",".join(layout.substation_urls())),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", [("proxy", proxy)])
        time.sleep(1)  # both workers listening
        yield port, proxy
    finally:
        if proxy.poll() is None:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(timeout=20)


@pytest.mark.stack
def test_two_workers_share_the_port_and_both_serve(tmp_path: Path) -> None:
    layout = free_stack_layout(spare_ports=1)
    with running_stack(layout, tmp_path / "logs"), two_workers(layout) as (port, proxy):

        async def charges() -> list[int]:
            async with aiohttp.ClientSession() as client:

                async def one(number: int) -> int:
                    body = {"vehicle_id": f"EV-w-{number}", "amount": 5}
                    async with client.post(f"http://127.0.0.1:{port}/charge", json=body) as answer:
                        return answer.status

                return await asyncio.gather(*(one(n) for n in range(60)))

        assert set(asyncio.run(charges())) == {201}
        proxy.send_signal(signal.SIGTERM)
        exit_code = proxy.wait(timeout=20)
        assert exit_code == 0  # each worker stopped as `grid.httpio.serve` stops on SIGTERM
        assert not is_listening(port)


@pytest.mark.stack
def test_a_vehicle_asking_again_on_new_connections_gets_one_session_from_either_worker(
    tmp_path: Path,
) -> None:
    """One charge, then 20 more of the same vehicle half a second later, each on a connection
    of its own: the kernel deals them out to both workers (all to one: 1 in 2^19). Each worker
    hears the other's bookings on the substations' load streams, vehicle and all, so every
    answer is the one session (200), and the substations hold the vehicle's kW once. Before,
    the worker that had not booked it booked it again elsewhere."""
    layout = free_stack_layout(spare_ports=1)
    with running_stack(layout, tmp_path / "logs"), two_workers(layout) as (port, _):
        url, body = f"http://127.0.0.1:{port}/charge", {"vehicle_id": "EV-again", "amount": 11}

        async def charges() -> list[tuple[int, str]]:
            async def one() -> tuple[int, str]:
                connector = aiohttp.TCPConnector(force_close=True)
                async with (
                    aiohttp.ClientSession(connector=connector) as client,
                    client.post(url, json=body) as answer,
                ):
                    return answer.status, (await answer.json())["session_id"]

            first = await one()
            await asyncio.sleep(0.5)
            return [first, *[await one() for _ in range(20)]]

        answers = asyncio.run(charges())
        assert answers[0][0] == 201
        assert {status for status, _ in answers[1:]} == {200}, answers
        assert {session for _, session in answers} == {answers[0][1]}
        loads = [current_load_kw(url) for url in layout.substation_urls()]
        assert sorted(loads) == [0.0, 0.0, 11.0]


@pytest.mark.stack
def test_the_seed_burst_through_two_workers_stays_within_one_request(tmp_path: Path) -> None:
    """The seed's 100 charges at once, split by the kernel between the workers: each tells
    the other what it has in flight and what it booked, and the substations' reports say which
    of those they took already. Five bursts, each on fresh substations; three must stay within
    one request (`python -m bench.workers` has the figures, and the same bursts with the
    workers blind). Not all five: about one burst in ten still ends past one request (what a
    report holds of one worker's requests in flight depends on how the two cores were shared
    out in that burst), and blind workers end past it about every other time."""
    rows = [
        seed_burst(free_layout(), tmp_path / f"logs-{seed}", "shared", seed) for seed in range(1, 6)
    ]
    for row in rows:
        print(f"seed burst through --workers 2: {row}")
    assert all(row["failed"] == 0 for row in rows)
    assert sum(row["spread_kw"] <= row["largest_amount_kw"] for row in rows) >= 3
