"""The load stream between real processes: substations report to every proxy as they change."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.processes import StackLayout, running_stack, wait_until_healthy
from tests.helpers import free_stack_layout


def substations_seen(proxy_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{proxy_url}/substations", timeout=5) as answer:
        return {entry["name"]: entry for entry in json.loads(answer.read())}


def until(check: Any, timeout_s: float) -> float:
    """Seconds until `check()` is true, polled every 5 ms; AssertionError after `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.005)
    raise AssertionError(f"not within {timeout_s} s")


@contextlib.contextmanager
def second_proxy(layout: StackLayout) -> Iterator[str]:
    """Another proxy in front of the stack's substations, polling once a minute (so that what
    it learns between polls comes by their streams): its URL, until it is stopped."""
    port = layout.proxy_port + 1
    second = subprocess.Popen(
        [
            *(sys.executable, "-m", "proxy", "--port", str(port)),
            *("--substations", ",".join(layout.substation_urls())),
            *("--poll-interval", "60"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, [("proxy", second)])
        yield url
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)


@pytest.mark.stack
def test_a_killed_substation_is_out_of_every_proxys_choice_long_before_a_poll(
    tmp_path: Path,
) -> None:
    """Two proxies polling once a minute; substation2 killed with SIGKILL. Each proxy learns it
    from its stream breaking off: measured and printed here (docs/balance-lab.md)."""
    layout = free_stack_layout(spare_ports=1, poll_interval_s=60.0)
    with running_stack(layout, tmp_path / "logs") as stack, second_proxy(layout) as second_url:
        proxies = [layout.proxy_url, second_url]
        for url in proxies:  # every stream open
            until(
                lambda url=url: all(s["load_stream"] for s in substations_seen(url).values()),
                10.0,
            )
        stack.kill("substation2")
        killed_at = time.monotonic()
        seen_out_s = []
        for url in proxies:
            until(lambda url=url: not substations_seen(url)["substation2"]["healthy"], 5.0)
            seen_out_s.append(time.monotonic() - killed_at)
        print(f"substation2 out of each proxy's choice after {seen_out_s} s (SIGKILL)")
        # A poll would have taken up to a minute: this was the stream.
        assert max(seen_out_s) < 2.0


@pytest.mark.stack
def test_a_proxy_hears_on_the_stream_of_the_sessions_another_proxy_booked(tmp_path: Path) -> None:
    """Two proxies polling once a minute; a charge booked through the first. The substation's
    next stream line carries the booking (`grid.booked`), and the second proxy counts it as
    its own bookings are counted (`booked_kw` in its `/substations`): measured and printed."""
    layout = free_stack_layout(spare_ports=1, poll_interval_s=60.0)
    with running_stack(layout, tmp_path / "logs"), second_proxy(layout) as second_url:
        until(lambda: all(s["load_stream"] for s in substations_seen(second_url).values()), 10)
        assert all(s["booked_kw"] == 0 for s in substations_seen(second_url).values())
        request = urllib.request.Request(
            f"{layout.proxy_url}/charge",
            data=json.dumps({"vehicle_id": "EV-told", "amount": 11}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            session = json.loads(answer.read())
        where = session["substation"]
        heard_s = until(lambda: substations_seen(second_url)[where]["booked_kw"] == 11, 2.0)
        print(f"the second proxy heard of the first's booking at {where} after {heard_s} s")
        assert substations_seen(layout.proxy_url)[where]["booked_kw"] == 11  # its own
        others = [s for name, s in substations_seen(second_url).items() if name != where]
        assert all(s["booked_kw"] == 0 for s in others)
