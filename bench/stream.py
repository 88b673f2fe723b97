"""`python -m bench.stream`: what the load stream (`GET /load/stream`) costs (docs/performance.md).

1. A substation's CPU per load report, with 0, 1 and 16 subscribers. The substation app
   (`substation.app.create_app`, as in production) runs in this process, and its ledger is
   changed directly every millisecond (a 1 kW session booked), so that its feed publishes once
   per report interval (5 ms here, ten times the default's rate, so that a run holds a thousand
   reports; the cost per report does not depend on it). The subscribers read in another
   process (`--subscribe`), so that this process's CPU time (`time.process_time`) is the
   substation's alone. CPU per report: that time, less the same window with no subscriber,
   divided by the reports the first subscriber read. Each count runs `--rounds` times; the
   median is printed.
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
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

from bench.city import city_urls
from bench.proxy import Processes, free_ports, wait_for_charge
from grid.protocol import ChargeRequest
from substation.app import admit, create_app
from substation.config import SubstationConfig

SUBSCRIBER_COUNTS = (0, 1, 16)
BENCH_REPORT_INTERVAL_S = 0.005
CHANGE_EVERY_S = 0.001


async def subscribe(url: str, count: int, seconds: float) -> int:
    """Open `count` streams; once each has its first line, print "ready" and read them for
    `seconds`; the lines the first one got meanwhile."""
    lines = [0]
    opened = asyncio.Semaphore(0)

    async def read(number: int) -> None:
        async with client.get(f"{url}/load/stream") as answer:
            await answer.content.readline()
            opened.release()
            async for _ in answer.content:
                if number == 0:
                    lines[0] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        readers = [asyncio.create_task(read(number)) for number in range(count)]
        for _ in range(count):
            await opened.acquire()
        print("ready", flush=True)
        await asyncio.sleep(seconds)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return lines[0]


async def change_ledger(app: web.Application, seconds: float) -> None:
    """A 1 kW session booked every `CHANGE_EVERY_S` for `seconds`, as a charge is (each line
    then carries the bookings of its last five report intervals, here 25)."""
    started, number = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        number += 1
        admit(app, ChargeRequest(f"EV-{number}", 1.0, 1.0), "be7c4.0", time.time())
        await asyncio.sleep(CHANGE_EVERY_S)


async def cpu_per_report(subscribers: int, seconds: float) -> dict[str, Any]:
    (port,) = free_ports(1)
    config = SubstationConfig(
        name="bench", capacity_kw=1e9, report_interval_s=BENCH_REPORT_INTERVAL_S
    )
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    reader = None
    if subscribers:
        argv = ["-m", "bench.stream", "--subscribe", f"http://127.0.0.1:{port}"]
        argv += [str(subscribers), str(seconds)]
        reader = await asyncio.create_subprocess_exec(sys.executable, *argv, stdout=PIPE)
        assert reader.stdout is not None
        await asyncio.wait_for(reader.stdout.readline(), 30)  # "ready": every stream open
    cpu_before = time.process_time()
    await change_ledger(app, seconds)
    cpu_s = time.process_time() - cpu_before
    reports = 0
    if reader is not None:
        output, _ = await asyncio.wait_for(reader.communicate(), 30)
        reports = int(output)
    await runner.cleanup()
    return {"subscribers": subscribers, "reports": reports, "cpu_s": round(cpu_s, 4)}


def substation_rows(rounds: int, seconds: float) -> list[dict[str, Any]]:
    rows = []
    for round_number in range(rounds):
        for subscribers in SUBSCRIBER_COUNTS:
            row = uvloop.run(cpu_per_report(subscribers, seconds))  # as the service runs
            rows.append({**row, "round": round_number})
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
    parser.add_argument(
        "--subscribe", nargs=3, metavar=("URL", "COUNT", "SECONDS"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.subscribe:  # the subscribers' side of part 1, in its own process
        url, count_text, seconds_text = args.subscribe
        print(asyncio.run(subscribe(url, int(count_text), float(seconds_text))))
        return 0
    rounds, seconds, count = (1, 1.0, 100) if args.quick else (3, 5.0, 1000)
    cpu_rows = substation_rows(rounds, seconds)
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as scratch:
        procs = Processes(Path(scratch))
        try:
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
