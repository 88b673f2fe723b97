"""`python -m proxy --workers 2`: two processes share the port; SIGTERM stops both."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

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
            proxy.wait(timeout=20)
        assert not is_listening(port)
