"""The SQLite session store, and a substation that comes back with its sessions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest
from substation.app import LEDGER, create_app
from substation.config import SubstationConfig
from substation.store import SessionStore, StateUnusable
from tests.helpers import FakeClock, charge_body

T0 = 1_800_000_000.0
ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


def test_store_keeps_what_the_ledger_books_and_forgets_what_ends(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "north.sqlite")
    ledger = SessionLedger("north", 100, 60, listener=store)
    kept = ledger.admit(ChargeRequest("EV-1", 40, 40), T0).session
    stopped = ledger.admit(ChargeRequest("EV-2", 30, 30), T0 + 10).session
    ledger.admit(ChargeRequest("EV-3", 20, 20), T0 + 50)
    ledger.stop(stopped.session_id, T0 + 20)
    store.close()
    reopened = SessionStore(tmp_path / "north.sqlite")
    # At T0 + 55 all three would still run but EV-2 was stopped; at T0 + 60 EV-1 has ended.
    assert [s.vehicle_id for s in reopened.load(T0 + 55)] == ["EV-1", "EV-3"]
    assert [s.vehicle_id for s in reopened.load(T0 + 60)] == ["EV-3"]
    assert reopened.load(T0 + 60)[0].ends_at == T0 + 110
    assert kept.session_id not in {s.session_id for s in reopened.load(T0 + 60)}


@pytest.mark.parametrize("kind", ["missing directory", "directory", "not a database"])
def test_a_state_file_that_cannot_be_used_stops_the_substation_saying_which(
    tmp_path: Path, kind: str
) -> None:
    path = {
        "missing directory": tmp_path / "gone" / "north.sqlite",
        "directory": tmp_path,
        "not a database": tmp_path / "north.sqlite",
    }[kind]
    if kind == "not a database":
        path.write_bytes(b"sessions, but not as SQLite keeps them\n" * 100)
    with pytest.raises(StateUnusable, match=repr(str(path))):
        SessionStore(path)
    started = subprocess.run(
        [
            sys.executable,
            "-m",
            "substation",
            "--name",
            "north",
            "--port",
            "0",
            "--state",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert started.returncode == 1
    assert started.stderr.startswith("python -m substation: the state file")
    assert "Traceback" not in started.stderr


def test_store_writes_each_expiry_batch(tmp_path: Path) -> None:
    path = tmp_path / "north.sqlite"
    store = SessionStore(path)
    ledger = SessionLedger("north", 100, 60, listener=store)
    for number in range(5):
        ledger.admit(ChargeRequest(f"EV-{number}", 10, 10), T0)
    ledger.expire(T0 + 60)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_restarted_substation_reports_the_same_load_and_end_times(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    config = SubstationConfig(name="north", capacity_kw=100, state_path=str(tmp_path / "s.db"))
    clock = FakeClock(T0)
    before = await aiohttp_client(create_app(config, clock))
    sessions = [
        await (await before.post("/charge", json=charge_body(f"EV-{n}", 30))).json()
        for n in range(3)
    ]
    await before.close()
    clock.now += 30
    after = await aiohttp_client(create_app(config, clock))
    assert after.app[LEDGER].load_kw == 90
    read = await (await after.get(f"/charge/{sessions[0]['session_id']}")).json()
    assert read["ends_at"] == sessions[0]["ends_at"]
    assert read["remaining_s"] == 30
    again = await after.post("/charge", json=charge_body("EV-1", 30))
    assert again.status == 200  # the vehicle still charges here: nothing booked twice
    assert (await after.post("/charge", json=charge_body("EV-9", 30))).status == 503
