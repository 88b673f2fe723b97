"""`python -m bench.path`: microseconds of our own Python per charge, part by part, in one process.

`bench.proxy` measures the whole proxy beside HAProxy, but on a shared 2-core machine its CPU per
request moves by ±10 % from run to run, more than most single changes are worth. This calls each
part of the charge path directly, as the proxy does, with no socket and no aiohttp server
around it, on the state of a busy proxy: three substations at about 70 % with a session ending
every few tenths of a second (so `headroom`'s outlook has steps to walk), and a substation's
real answer (its session and load report, as `substation.app` writes them). Each part runs
`--calls` times a round; the best of `--rounds` is printed, which is what the code costs when
the machine lets it run. "whole charge" is `ChargeRouter.charge` with an upstream that answers
at once: the choice, the answer read and learning, with the router's own steps (one charge per
vehicle, the attempt); validation, relay and metrics are the handler's, outside it.
A figure to read, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping

from multidict import CIMultiDict, CIMultiDictProxy

from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest
from proxy.attempt import learn_answer
from proxy.balancer import Balancer
from proxy.charge import parse_proxy_charge
from proxy.directory import SessionDirectory
from proxy.metrics import ProxyMetrics
from proxy.relay import relay
from proxy.router import ChargeRouter, answered
from proxy.upstream import UpstreamAnswer

NOW = 1_000_000.0
SESSION_S = 60.0
SUBSTATIONS = {  # key: capacity in kW
    "http://127.0.0.1:8001": 400.0,
    "http://127.0.0.1:8002": 300.0,
    "http://127.0.0.1:8003": 250.0,
}
BODY = b'{"vehicle_id": "EV-1234", "amount": 11}'


def busy_balancer() -> Balancer:
    """Three substations at about 70 %: sessions booked over the last minute, one ending every
    few tenths of a second, and each one's newest report."""
    balancer = Balancer(policy="headroom")
    balancer.set_substations(SUBSTATIONS)
    for number, (key, capacity_kw) in enumerate(SUBSTATIONS.items()):
        sessions = int(0.7 * capacity_kw / 11.0)
        for session in range(sessions):
            ends_at = NOW + (session + number / 3) * SESSION_S / sessions
            balancer.record_booking(key, ends_at, 11.0, ends_at - SESSION_S)
        balancer.record_report(key, NOW, sessions * 11.0, capacity_kw)
    return balancer


def substation_answer(key: str) -> UpstreamAnswer:
    """What a substation answers a booked charge: its session and its load report."""
    ledger = SessionLedger(key.rsplit(":", 1)[1], SUBSTATIONS[key], SESSION_S)
    session = ledger.admit(ChargeRequest("EV-1234", 11.0, 11.0), NOW).session
    body = json.dumps(session.to_json()).encode()
    headers = CIMultiDict(ledger.report().headers())
    headers.update({"Content-Type": "application/json; charset=utf-8"})
    headers.update({"Content-Length": str(len(body)), "Date": "Mon, 30 Nov 2026 05:00:00 GMT"})
    headers["Server"] = "Python/3.11 aiohttp/3.14"
    return UpstreamAnswer(201, CIMultiDictProxy(headers), body)


class AnsweringUpstream:
    """The `Upstream` seam answering every charge at once, as `substation_answer` does."""

    def __init__(self) -> None:
        self._answers = {f"{key}/charge": substation_answer(key) for key in SUBSTATIONS}

    async def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> UpstreamAnswer:
        return self._answers[url]

    async def close(self) -> None:
        return None


def best_us(part: Callable[[], object], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            part()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def whole_charge_us(calls: int, rounds: int) -> float:
    router = ChargeRouter(busy_balancer(), AnsweringUpstream(), ProxyMetrics(), lambda: NOW, 2)
    # A vehicle of its own each (one charging already would be sent to its substation unchosen).
    charges_made = [
        parse_proxy_charge(f'{{"vehicle_id": "EV-{number}", "amount": 11}}'.encode())
        for number in range(calls)
    ]
    forwarded = {"X-Forwarded-For": "127.0.0.1"}

    async def charges() -> float:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for charge in charges_made:
                await router.charge(charge, forwarded)
            best = min(best, (time.perf_counter() - started) / calls)
        return best * 1e6

    return asyncio.run(charges())


def measure(calls: int, rounds: int) -> dict[str, float]:
    """µs per call of each part, and of the whole charge."""
    key = next(iter(SUBSTATIONS))
    answer = substation_answer(key)
    choosing = busy_balancer()
    learning, directory = busy_balancer(), SessionDirectory()
    outcome = answered(key, answer)
    metrics = ProxyMetrics()
    parts: dict[str, Callable[[], object]] = {
        "validation (parse_proxy_charge)": lambda: parse_proxy_charge(BODY),
        "choice (Balancer.choose, headroom)": lambda: choosing.choose(11.0, 11.0, 1, now=NOW),
        "answer read (router.answered)": lambda: answered(key, answer),
        "learning (learn_answer)": lambda: learn_answer(
            learning, directory, key, outcome, NOW, NOW
        ),
        "relay (relay.relay)": lambda: relay(answer),
        "metrics (observe_request)": lambda: metrics.observe_request("north", 201, 0.002),
    }
    figures = {name: best_us(part, calls, rounds) for name, part in parts.items()}
    figures["whole charge (ChargeRouter.charge)"] = whole_charge_us(calls, rounds)
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.path", description=__doc__)
    parser.add_argument("--calls", type=int, default=5_000, help="calls of each part a round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    figures = measure(args.calls, args.rounds)
    if args.json:
        print(json.dumps({name: round(us, 2) for name, us in figures.items()}))
        return 0
    for name, us in figures.items():
        print(f"{name:<40}{us:>8.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
