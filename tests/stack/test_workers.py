"""`python -m proxy --workers 2`: two processes share the port, tell each other their bookings
(`proxy.siblings`), and SIGTERM stops both."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bench.workers import free_layout, seed_burst
from stack.processes import running_stack, wait_until_healthy
from tests.helpers import free_stack_layout, is_listening


@pytest.mark.stack
def test_two_workers_share_the_port_and_both_serve(tmp_path: Path) -> None:
    layout = free_stack_layout(spare_ports=1)
    with running_stack(layout, tmp_path / "logs"):
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

            async def charges() -> list[int]:
                async with aiohttp.ClientSession() as client:

                    async def one(number: int) -> int:
                        body = {"vehicle_id": f"EV-w-{number}", "amount": 5}
                        async with client.post(
                            f"http://127.0.0.1:{port}/charge", json=body
                        ) as answer:
                            return answer.status

                    return await asyncio.gather(*(one(n) for n in range(60)))

            assert set(asyncio.run(charges())) == {201}
        finally:
            proxy.send_signal(signal.SIGTERM)
            exit_code = proxy.wait(timeout=20)
        assert exit_code == 0  # each worker stopped as `grid.httpio.serve` stops on SIGTERM
        assert not is_listening(port)


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
