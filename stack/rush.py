"""The rush-hour demo: Locust drives the local stack while the grid is sampled, then a report.

Locust runs headless as its own process (it monkey-patches the standard library with gevent,
so it stays out of ours) and writes its CSV stats and HTML report to `out/`. Meanwhile a thread
samples the proxy's `/substations` every second for the load plot and prints progress.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "locustfile.py"
PEAK_END_SHARE = 0.75  # RushHour in locustfile.py holds its peak until 75 % of the run
PEAK_END_WINDOW_S = 10.0  # "the end of the peak": its last 10 seconds
PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class LoadSample:
    t_s: float
    substation: str
    load_kw: float
    capacity_kw: float


@dataclass
class LoadSampler:
    """Samples `GET /substations` once a second in a thread until stopped."""

    proxy_url: str
    samples: list[LoadSample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        started = time.monotonic()
        next_progress = PROGRESS_EVERY_S
        while not self._stop.wait(1.0):
            t_s = time.monotonic() - started
            try:
                with urllib.request.urlopen(f"{self.proxy_url}/substations", timeout=2) as answer:
                    listing = json.loads(answer.read())
            except OSError:
                continue
            for entry in listing:
                self.samples.append(
                    LoadSample(t_s, entry["name"], entry["load_kw"], entry["capacity_kw"] or 0.0)
                )
            if t_s >= next_progress:
                next_progress += PROGRESS_EVERY_S
                shares = ", ".join(
                    f"{e['name']} {100 * e['load_kw'] / (e['capacity_kw'] or 1):.0f} %"
                    for e in listing
                )
                print(f"  {t_s:5.0f} s  {shares}", flush=True)


def run_locust(proxy_url: str, seconds: float, out_dir: Path, peak_users: int | None) -> int:
    """Locust headless with the RushHour shape; its exit code (1 if any request failed)."""
    env = {**os.environ, "RUSH_SHAPE": "rush", "RUSH_SECONDS": f"{seconds:g}"}
    if peak_users is not None:
        env["RUSH_PEAK_USERS"] = str(peak_users)
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    argv += ["--host", proxy_url, "--only-summary", "--csv", str(out_dir / "demo")]
    argv += ["--html", str(out_dir / "demo-report.html"), "--run-time", f"{seconds + 30:g}s"]
    # The CSV is a snapshot taken every second; the JSON file is written from the final stats.
    argv += ["--json-file", str(out_dir / "demo_stats")]
    with (out_dir / "locust.log").open("wb") as log:
        finished = subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=seconds + 90, check=False
        )
    return finished.returncode


@dataclass(frozen=True, slots=True)
class LocustStats:
    booked: int
    curtailed: int
    refused: int
    failures: int
    requests: int
    p50_ms: float
    p99_ms: float


def read_locust_stats(json_path: Path) -> LocustStats:
    """Locust's final stats (`--json-file`): counts by request name, aggregated percentiles."""
    entries: list[dict[str, Any]] = json.loads(json_path.read_text())

    def count(name: str) -> int:
        return sum(e["num_requests"] for e in entries if e["name"] == name)

    response_times: dict[float, int] = {}
    for entry in entries:
        for milliseconds, times in entry["response_times"].items():
            key = float(milliseconds)
            response_times[key] = response_times.get(key, 0) + times
    return LocustStats(
        booked=count("POST /charge"),
        curtailed=count("POST /charge [curtailed]"),
        refused=count("POST /charge [refused: capacity]"),
        failures=sum(e["num_failures"] for e in entries),
        requests=sum(e["num_requests"] for e in entries),
        p50_ms=percentile(response_times, 0.5),
        p99_ms=percentile(response_times, 0.99),
    )


def percentile(histogram: dict[float, int], share: float) -> float:
    """The response time below which `share` of the requests fell (Locust rounds them)."""
    total = sum(histogram.values())
    seen = 0
    for milliseconds in sorted(histogram):
        seen += histogram[milliseconds]
        if seen >= share * total:
            return milliseconds
    return 0.0


def mean_loads(samples: list[LoadSample], start_s: float, end_s: float) -> dict[str, LoadSample]:
    """Each substation's mean load between `start_s` and `end_s` (one sample is too noisy:
    one 50 kW session ending is 10 % of a 500 kW substation for the second it takes to refill)."""
    window = [sample for sample in samples if start_s <= sample.t_s <= end_s]
    means: dict[str, LoadSample] = {}
    for name in sorted({sample.substation for sample in window}):
        mine = [sample for sample in window if sample.substation == name]
        load_kw = sum(sample.load_kw for sample in mine) / len(mine)
        means[name] = LoadSample(end_s, name, load_kw, max(s.capacity_kw for s in mine))
    return means


def plot_loads(samples: list[LoadSample], path: Path) -> None:
    """Load of each substation over time, with its capacity and its 80 % line."""
    import matplotlib  # noqa: PLC0415 - slow to import, only needed here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(10, 5))
    for name in sorted({sample.substation for sample in samples}):
        mine = [sample for sample in samples if sample.substation == name]
        line = axis.plot([s.t_s for s in mine], [s.load_kw for s in mine], label=name)[0]
        capacity_kw = max(s.capacity_kw for s in mine)
        axis.axhline(capacity_kw, color=line.get_color(), linewidth=1, linestyle="-", alpha=0.4)
        axis.axhline(0.8 * capacity_kw, color=line.get_color(), linewidth=1, linestyle="--")
    axis.set_xlabel("seconds into the rush")
    axis.set_ylabel("load (kW); solid: capacity, dashed: 80 %")
    axis.set_title("Load per substation, sampled from the proxy")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def sessions_by_substation(substation_urls: list[str]) -> dict[str, int]:
    """Sessions each substation booked (accepted + curtailed), from its own `/metrics`."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    booked: dict[str, int] = {}
    for url in substation_urls:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                outcome = sample.labels.get("outcome")
                if sample.name == "substation_sessions_total" and outcome in (
                    "accepted",
                    "curtailed",
                ):
                    name = sample.labels["substation"]
                    booked[name] = booked.get(name, 0) + int(sample.value)
    return booked


def format_rush_report(
    stats: LocustStats, at_peak_end: dict[str, LoadSample], sessions: dict[str, int]
) -> str:
    lines = [f"{'substation':<14}{'sessions':>9}{'load kW':>10}{'capacity kW':>13}{'share':>8}"]
    shares = []
    for name in sorted(at_peak_end):
        sample = at_peak_end[name]
        share = sample.load_kw / sample.capacity_kw if sample.capacity_kw else 0.0
        shares.append(share)
        lines.append(
            f"{name:<14}{sessions.get(name, 0):>9}{sample.load_kw:>10.1f}"
            f"{sample.capacity_kw:>13.0f}{100 * share:>7.0f}%"
        )
    loads = [sample.load_kw for sample in at_peak_end.values()] or [0.0]
    gap = 100 * (max(shares) - min(shares)) if shares else 0.0
    failed_pct = 100 * stats.failures / max(1, stats.requests)
    lines += [
        "",
        f"over the last {PEAK_END_WINDOW_S:g} s of the peak (mean): max load {max(loads):.1f} kW, "
        f"min load {min(loads):.1f} kW; utilizations within {gap:.1f} % of each other (goal: 5 %)",
        f"charges: {stats.booked} booked in full, {stats.curtailed} curtailed, "
        f"{stats.refused} refused for capacity (waited as told)",
        f"failed {stats.failures} of {stats.requests} requests ({failed_pct:.1f} %); "
        f"latency p50 {stats.p50_ms:g} ms, p99 {stats.p99_ms:g} ms",
    ]
    return "\n".join(lines)
