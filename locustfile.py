"""Rush-hour traffic for the charge endpoint: EV drivers, an evening peak, the seed's burst.

    locust -f locustfile.py                                         # web UI on :8089
    RUSH_SHAPE=burst locust -f locustfile.py --headless ...         # the seed's 100 EVs at once

Each Locust user is a driver: a new vehicle arrives, asks for power from a realistic mix
(7.4, 11 and 22 kW AC, some 50 kW DC), sometimes looks at its session, sometimes leaves early,
otherwise charges until the session ends; then the next vehicle comes. A 503 with Retry-After
is "refused for capacity": it has its own name in the stats and the driver waits as told. Any
other unexpected answer is a failure.

Environment: RUSH_SHAPE (rush | burst), RUSH_SECONDS (length of the rush, default 120),
RUSH_PEAK_USERS (drivers at the peak, default 130: about 2,000 kW of demand against the local
stack's 1,500 kW), BURST_USERS (default 100), PROXY_URL (the host when --host is not given,
default http://127.0.0.1:8080, the local stack's proxy). A value out of these stops Locust
at once with a message naming it.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import time
import uuid
from datetime import datetime
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, task

SHAPES = ("rush", "burst")


def _setting(name: str, default: str, kind: type[float] | type[int], least: float = 1) -> float:
    """Env var `name` as a number, `least` or more; anything else stops Locust at once, saying
    so (a typo would otherwise be a traceback, or no users at all)."""
    text = os.environ.get(name) or default
    try:
        value = kind(text)
    except ValueError:
        wanted = "a whole number" if kind is int else "a number"
        raise SystemExit(f"{name}={text!r}: not {wanted}") from None
    if not (math.isfinite(value) and value >= least):
        raise SystemExit(f"{name}={text!r}: must be {least:g} or more")
    return value


SHAPE = os.environ.get("RUSH_SHAPE") or "rush"
if SHAPE not in SHAPES:
    raise SystemExit(f"RUSH_SHAPE={SHAPE!r}: rush or burst")
RUSH_SECONDS = _setting("RUSH_SECONDS", "120", float, least=0)  # 0: the burst alone
RUSH_PEAK_USERS = int(_setting("RUSH_PEAK_USERS", "130", int))
BURST_USERS = int(_setting("BURST_USERS", "100", int))
BURST_HOLD_S = 30.0

# (kW, weight): home-style and public AC chargers, and some DC fast chargers.
AMOUNT_MIX_KW = ((7.4, 35), (11.0, 35), (22.0, 20), (50.0, 10))
CHECK_SESSION_SHARE = 0.3
LEAVE_EARLY_SHARE = 0.2
LONGEST_WAIT_S = 30.0  # a driver told to come back later waits at most this long

NAME_BOOKED = "POST /charge"
NAME_CURTAILED = "POST /charge [curtailed]"
NAME_REFUSED = "POST /charge [refused: capacity]"
NAME_STOPPED = "DELETE /charge/[id]"
NAME_ENDED_FIRST = "DELETE /charge/[id] [ended already]"

_RUN = uuid.uuid4().hex[:6]
_vehicles = itertools.count(1)


def next_vehicle_id() -> str:
    """Unique within a run, and across runs, so no run finds an old session."""
    return f"EV-{_RUN}-{next(_vehicles)}"


def charge_body(rng: random.Random) -> dict[str, Any]:
    amounts, weights = zip(*AMOUNT_MIX_KW, strict=True)
    amount_kw = rng.choices(amounts, weights)[0]
    # AC chargers accept less power; DC drivers want their 50 kW or nothing.
    min_amount_kw = amount_kw if amount_kw >= 50 else round(amount_kw / 2, 1)
    return {"vehicle_id": next_vehicle_id(), "amount": amount_kw, "min_amount": min_amount_kw}


class Driver(FastHttpUser):
    """What every driver does: ask for power and read the answer. No task of its own."""

    abstract = True
    # A bare `locust -f locustfile.py` opens aimed at the local proxy, not at an empty host.
    host = os.environ.get("PROXY_URL", "http://127.0.0.1:8080")

    def start_charge(self) -> dict[str, Any] | None:
        """Ask for power; the session if granted, None if refused (after waiting as told)."""
        body = charge_body(random.Random())
        with self.client.post(
            "/charge", json=body, name=NAME_BOOKED, catch_response=True
        ) as answer:
            if answer.status_code in (200, 201):
                session: dict[str, Any] = answer.json()
                if session["granted_kw"] < session["requested_kw"]:
                    answer.request_meta["name"] = NAME_CURTAILED
                answer.success()
                return session
            retry_after = answer.headers.get("Retry-After") if answer.headers else None
            if answer.status_code == 503 and retry_after is not None:
                answer.request_meta["name"] = NAME_REFUSED
                answer.success()
                time.sleep(min(float(retry_after), LONGEST_WAIT_S))
                return None
            answer.failure(f"unexpected {answer.status_code}: {answer.text[:200]}")
            return None

    def leave_early(self, session_id: str, ends_at: float) -> None:
        """Stop charging before the end. A 404 is right only once the session's end has come."""
        with self.client.delete(
            f"/charge/{session_id}", name=NAME_STOPPED, catch_response=True
        ) as answer:
            answered_at = time.time()
            if answer.status_code == 200:
                answer.success()
            elif answer.status_code == 404 and answered_at >= ends_at:
                # The driver woke late (Locust's users share one process, and at the peak it is
                # busy): the session had ended on its own. Its end is given to the millisecond,
                # cut, so it is never later than the substation's.
                answer.request_meta["name"] = NAME_ENDED_FIRST
                answer.success()
            else:
                early_s = ends_at - answered_at
                answer.failure(
                    f"unexpected {answer.status_code} {early_s:.3f} s before the session's end: "
                    f"{answer.text[:200]}"
                )


class EvDriver(Driver):
    """Rush hour: vehicle after vehicle, each charging until its session ends or it leaves."""

    abstract = SHAPE != "rush"
    wait_time = between(0.5, 2.0)

    @task
    def arrive_and_charge(self) -> None:
        session = self.start_charge()
        if session is None:
            return
        ends_at = datetime.fromisoformat(session["ends_at"]).timestamp()
        remaining_s = max(0.0, ends_at - time.time())
        if random.random() < CHECK_SESSION_SHARE:
            self.client.get(f"/charge/{session['session_id']}", name="GET /charge/[id]")
        if random.random() < LEAVE_EARLY_SHARE:
            time.sleep(random.uniform(0, remaining_s))
            self.leave_early(session["session_id"], ends_at)
        else:
            time.sleep(remaining_s)


class BurstDriver(Driver):
    """The seed's test: every driver asks once, all at the same moment."""

    abstract = SHAPE != "burst"
    wait_time = between(0, 0)

    @task
    def arrive_and_charge(self) -> None:
        self.start_charge()
        time.sleep(BURST_HOLD_S)  # and stays parked: the burst is one request per driver


class RushHour(LoadTestShape):
    """Ramp to an evening peak above grid capacity, hold it, then wind down; then stop."""

    abstract = SHAPE != "rush"

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed >= RUSH_SECONDS:
            return None
        share = elapsed / RUSH_SECONDS
        if share < 0.4:  # evening ramp
            users = RUSH_PEAK_USERS * (0.1 + 0.9 * share / 0.4)
        elif share < 0.75:  # the peak
            users = RUSH_PEAK_USERS
        else:  # drivers go home
            users = RUSH_PEAK_USERS * (1 - 0.8 * (share - 0.75) / 0.25)
        return max(1, round(users)), max(1.0, RUSH_PEAK_USERS / 10)


class SeedBurst(LoadTestShape):
    """The seed's rush hour: BURST_USERS drivers at once, each asking once."""

    abstract = SHAPE != "burst"

    def tick(self) -> tuple[int, float] | None:
        if self.get_run_time() >= BURST_HOLD_S / 2:
            return None
        return BURST_USERS, float(BURST_USERS)


# When the rush ends (share 0.75 of RUSH_SECONDS), as the demo reports it.
PEAK_ENDS_AT_S = 0.75 * RUSH_SECONDS
