"""The seed's rush hour: N EVs ask at once through the proxy, then the grid is read back.

Every answer is looked at (the seed's test never did, so its failures were silent), and the
substations' loads are read from their own `/metrics`, not from what the proxy believes.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from proxy.poller import parse_metrics

BURST_SIZE = 100
AMOUNT_RANGE_KW = (5.0, 20.0)


@dataclass
class BurstResult:
    statuses: Counter[int] = field(default_factory=Counter)
    requests_by_substation: Counter[str] = field(default_factory=Counter)
    sessions: dict[str, float] = field(default_factory=dict)  # session_id -> granted kW
    load_kw_by_substation: dict[str, float] = field(default_factory=dict)
    capacity_kw_by_substation: dict[str, float] = field(default_factory=dict)
    largest_amount_kw: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return sum(count for status, count in self.statuses.items() if status not in (200, 201))

    @property
    def spread_kw(self) -> float:
        loads = self.load_kw_by_substation.values()
        return max(loads) - min(loads) if loads else 0.0


def seed_payloads(count: int, seed: int) -> list[dict[str, object]]:
    """The seed's payload: `EV-<4 digits>` (ids may repeat, as in the seed), 5-20 kW."""
    rng = random.Random(seed)
    return [
        {
            "vehicle_id": f"EV-{rng.randint(1000, 9999)}",
            "amount": round(rng.uniform(*AMOUNT_RANGE_KW), 1),
        }
        for _ in range(count)
    ]


async def run_burst(
    proxy_url: str, substation_urls: list[str], count: int = BURST_SIZE, seed: int = 1
) -> BurstResult:
    payloads = seed_payloads(count, seed)
    result = BurstResult(largest_amount_kw=max(float(str(p["amount"])) for p in payloads))
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        answers = await asyncio.gather(*(_charge(client, proxy_url, p) for p in payloads))
        for status, substation, session in answers:
            result.statuses[status] += 1
            if substation:
                result.requests_by_substation[substation] += 1
            if session:
                result.sessions[str(session["session_id"])] = float(session["granted_kw"])
        for url in substation_urls:
            name, load_kw, capacity_kw = await read_substation_load(client, url)
            result.load_kw_by_substation[name] = load_kw
            result.capacity_kw_by_substation[name] = capacity_kw
    return result


async def _charge(
    client: aiohttp.ClientSession, proxy_url: str, payload: dict[str, object]
) -> tuple[int, str | None, dict[str, Any] | None]:
    try:
        async with client.post(f"{proxy_url}/charge", json=payload) as answer:
            body = await answer.json() if answer.content_type == "application/json" else None
            session = body if answer.status in (200, 201) else None
            return answer.status, answer.headers.get("X-Substation"), session
    except (aiohttp.ClientError, TimeoutError):
        return 0, None, None  # status 0: no answer at all, counted as failed


async def read_substation_load(client: aiohttp.ClientSession, url: str) -> tuple[str, float, float]:
    async with client.get(f"{url}/metrics") as answer:
        reading = parse_metrics(await answer.text())
    return reading.name or url, reading.load_kw, reading.capacity_kw


def format_report(result: BurstResult, title: str) -> str:
    lines = [title, "", f"{'substation':<14}{'requests':>9}{'load kW':>10}{'capacity kW':>13}"]
    for name in sorted(result.load_kw_by_substation):
        lines.append(
            f"{name:<14}{result.requests_by_substation[name]:>9}"
            f"{result.load_kw_by_substation[name]:>10.1f}"
            f"{result.capacity_kw_by_substation[name]:>13.0f}"
        )
    loads = result.load_kw_by_substation.values()
    failed_pct = 100.0 * result.failed / max(1, result.requests)
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result.statuses.items()))
    lines += [
        "",
        f"max load {max(loads):.1f} kW, min load {min(loads):.1f} kW, "
        f"spread {result.spread_kw:.1f} kW "
        f"(one request is at most {result.largest_amount_kw:g} kW)",
        f"answers {result.requests} ({statuses}); failed {result.failed} ({failed_pct:.1f} %)",
        f"granted {sum(result.sessions.values()):.1f} kW in {len(result.sessions)} sessions; "
        f"the substations report {sum(loads):.1f} kW",
    ]
    return "\n".join(lines)
