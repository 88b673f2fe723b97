"""`python -m bench.stream`: what the load stream (`GET /load/stream`) costs (docs/performance.md).

1. A substation's CPU per load report, with 0, 1 and 16 subscribers. A real substation process
   (`python -m substation`) takes charges at a steady rate, so its ledger changes all the time
   and its feed publishes once per `--report-interval` (5 ms here, ten times the default's
   rate, so that a run holds enough reports to measure; the cost per report does not depend on
   it). CPU per report is the substation's CPU seconds over the window (from /proc), less the
   same window with no subscriber, divided by the reports the first subscriber read. Each
   count of subscribers runs `--rounds` times; the median is printed.
2. A proxy's memory with 1,000 streamed substations: 1,000 real substation apps in one process
   (`bench.city`), a real proxy (`python -m proxy`) following every one's stream; its resident
   memory once every stream is open, beside the same proxy with `--load-stream off`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from bench.city import city_urls
from bench.proxy import Processes, cpu_seconds, free_ports, wait_for_charge

SUBSCRIBER_COUNTS = (0, 1, 16)
BENCH_REPORT_INTERVAL_S = 0.005


async def read_stream(client: aiohttp.ClientSession, url: str, lines: list[int]) -> None:
    async with client.get(f"{url}/load/stream") as answer:
        async for _ in answer.content:
            lines[0] += 1


async def send_charges(client: aiohttp.ClientSession, url: str, rate: float, seconds: float) -> int:
    """Charges of 1 kW at `rate` a second for `seconds`; how many were sent."""
    started, sent, pending = time.monotonic(), 0, set()
    while (elapsed := time.monotonic() - started) < seconds:
        while sent < elapsed * rate:
            body = {"vehicle_id": f"EV-{time.time_ns()}-{sent}", "amount": 1}
            pending.add(asyncio.create_task(client.post(f"{url}/charge", json=body)))
            sent += 1
        await asyncio.sleep(0.002)
    for answer in await asyncio.gather(*pending):
        answer.release()
    return sent


async def cpu_per_report(
    url: str, pid: int, subscribers: int, rate: float, seconds: float
) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        counts = [[0] for _ in range(subscribers)]
        readers = [asyncio.create_task(read_stream(client, url, lines)) for lines in counts]
        await asyncio.sleep(0.5)  # every subscriber in
        first_before = counts[0][0] if counts else 0
        cpu_before = cpu_seconds(pid)
        sent = await send_charges(client, url, rate, seconds)
        cpu_s = cpu_seconds(pid) - cpu_before
        reports = (counts[0][0] - first_before) if counts else 0
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return {"subscribers": subscribers, "charges": sent, "reports": reports, "cpu_s": cpu_s}


def substation_rows(procs: Processes, rounds: int, rate: float, seconds: float) -> list[Any]:
    (port,) = free_ports(1)
    argv = [sys.executable, "-m", "substation", "--port", str(port), "--name", "bench"]
    argv += ["--capacity-kw", "1e9", "--report-interval", str(BENCH_REPORT_INTERVAL_S)]
    substation = procs.start("substation", argv)
    url = f"http://127.0.0.1:{port}"
    wait_for_charge(url)
    rows = []
    for round_number in range(rounds):
        for subscribers in SUBSCRIBER_COUNTS:
            row = asyncio.run(cpu_per_report(url, substation.pid, subscribers, rate, seconds))
            rows.append({**row, "round": round_number})
    procs.stop(substation)
    return rows


def summarize_cpu(rows: list[dict[str, Any]]) -> dict[str, float]:
    def median_of(subscribers: int, key: str) -> float:
        return float(statistics.median(r[key] for r in rows if r["subscribers"] == subscribers))

    baseline = median_of(0, "cpu_s")
    summary = {"substation_cpu_s_no_subscriber": round(baseline, 4)}
    for subscribers in SUBSCRIBER_COUNTS[1:]:
        extra_s = median_of(subscribers, "cpu_s") - baseline
        reports = median_of(subscribers, "reports")
        per_report_us = extra_s * 1e6 / reports if reports else float("nan")
        summary[f"substation_cpu_us_per_report_{subscribers}_subscribers"] = round(per_report_us, 1)
        summary[f"reports_{subscribers}_subscribers"] = reports
    return summary


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def streams_open(proxy_url: str) -> int:
    with urllib.request.urlopen(f"{proxy_url}/substations", timeout=10) as answer:
        return sum(1 for entry in json.loads(answer.read()) if entry["load_stream"])


def proxy_memory(procs: Processes, count: int, load_stream: str) -> dict[str, Any]:
    city_port, proxy_port = free_ports(2)
    city_argv = [sys.executable, "-m", "bench.city", "--port", str(city_port)]
    city = procs.start(f"city-{load_stream}", [*city_argv, "--count", str(count)])
    urls = city_urls(city_port, count)
    wait_for_charge(urls[0])
    argv = [sys.executable, "-m", "proxy", "--port", str(proxy_port), "--poll-interval", "60"]
    argv += ["--substations", ",".join(urls), "--load-stream", load_stream]
    proxy = procs.start(f"proxy-{load_stream}", argv)
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    wait_for_charge(proxy_url, timeout_s=60)
    deadline, streaming = time.monotonic() + 60, 0
    while load_stream == "on" and time.monotonic() < deadline:
        if (streaming := streams_open(proxy_url)) == count:
            break
        time.sleep(0.5)
    time.sleep(3)  # a few heartbeats on every stream
    row = {"load_stream": load_stream, "substations": count, "streaming": streaming}
    row["proxy_rss_mb"] = round(resident_mb(proxy.pid), 1)
    procs.stop(proxy)
    procs.stop(city)
    return row


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one round, short windows, 100 subs")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    rounds, seconds, count = (1, 1.0, 100) if args.quick else (3, 5.0, 1000)
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as scratch:
        procs = Processes(Path(scratch))
        try:
            cpu_rows = substation_rows(procs, rounds, rate=400.0, seconds=seconds)
            memory_rows = [proxy_memory(procs, count, mode) for mode in ("off", "on")]
        finally:
            procs.stop_all()
    for row in cpu_rows + memory_rows:
        print(json.dumps(row), file=sys.stderr)
    summary: dict[str, Any] = summarize_cpu(cpu_rows)
    off, on = memory_rows
    summary["proxy_rss_mb_stream_off"] = off["proxy_rss_mb"]
    summary["proxy_rss_mb_stream_on"] = on["proxy_rss_mb"]
    summary["proxy_streams_open"] = on["streaming"]
    extra_kb = (on["proxy_rss_mb"] - off["proxy_rss_mb"]) * 1024 / count
    summary["proxy_kb_per_streamed_substation"] = round(extra_kb, 1)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:<48}{value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
