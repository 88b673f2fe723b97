"""Active sessions kept in SQLite (`--state FILE`), so a restarted substation knows its load.

Real chargers keep drawing power while the software restarts: a substation that forgot its
sessions would report 0 kW while loaded, and the balancer would pile onto it. One row per
active session; one statement per change (a booking, a stop, a batch of expiries), in
autocommit. WAL with synchronous=NORMAL: a commit is in the WAL before the answer goes out, so
it survives the process being killed (only a power cut can lose the last commits), and no
commit waits for an fsync, which keeps each write to tens of microseconds on the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from grid.ledger import Session

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id   TEXT PRIMARY KEY,
    vehicle_id   TEXT NOT NULL,
    substation   TEXT NOT NULL,
    requested_kw REAL NOT NULL,
    granted_kw   REAL NOT NULL,
    started_at   REAL NOT NULL,
    ends_at      REAL NOT NULL
)
"""
_COLUMNS = "session_id, vehicle_id, substation, requested_kw, granted_kw, started_at, ends_at"


class StateUnusable(Exception):
    """The state file cannot be opened as this store's database: a missing directory, no
    permission, a directory, another kind of file. The substation does not start without it
    (starting empty would report 0 kW while its chargers still draw power)."""


class SessionStore:
    """Implements the ledger's listener: it hears of every session that starts or ends."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as error:
            raise StateUnusable(f"the state file {str(path)!r} cannot be used: {error}") from error

    def load(self, now: float) -> list[Session]:
        """The sessions still running at `now`; those that ended while we were down are gone."""
        self._db.execute("DELETE FROM sessions WHERE ends_at <= ?", (now,))
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM sessions ORDER BY ends_at").fetchall()
        return [Session(*row) for row in rows]

    def session_started(self, session: Session) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session.session_id,
                session.vehicle_id,
                session.substation,
                session.requested_kw,
                session.granted_kw,
                session.started_at,
                session.ends_at,
            ),
        )

    def sessions_ended(self, sessions: Iterable[Session]) -> None:
        ids = [(session.session_id,) for session in sessions]
        if len(ids) == 1:
            self._db.execute("DELETE FROM sessions WHERE session_id = ?", ids[0])
        elif ids:  # many expiries at once: one transaction
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM sessions WHERE session_id = ?", ids)
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
