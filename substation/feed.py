"""The substation's load stream (`GET /load/stream`): its load report to every subscriber, at
once on subscribe and on every change, at most one message per `report_interval_s`.

Why newline-delimited JSON over one long chunked HTTP response, not a WebSocket: the stream
goes one way, it is plain HTTP that any proxy, `curl -N` or a test can read, and it needs no
upgrade handshake or framing of its own. Envoy's ORCA out-of-band reports are the model: each
backend streams its load to every balancer, so balancers stop guessing between polls.

Many subscribers cost little: a change is encoded once (`LoadFeed.publish`), and each
subscriber's handler wakes to write the newest line; one that falls behind skips to the newest
rather than queueing old ones. When nothing changes, the report is sent again every
`heartbeat_s`, so a subscriber can tell a quiet substation from a silent, broken connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from grid.ledger import LedgerListener, Session
from grid.protocol import DEFAULT_REPORT_INTERVAL_S, STREAM_HEARTBEAT_S, LoadReport


class LoadFeed:
    """The newest load report line, and a wake-up for its subscribers when it changes."""

    def __init__(
        self,
        report: Callable[[], LoadReport],
        interval_s: float = DEFAULT_REPORT_INTERVAL_S,
        heartbeat_s: float = STREAM_HEARTBEAT_S,
    ) -> None:
        self._report = report
        self._interval_s = interval_s
        self._heartbeat_s = heartbeat_s
        self._line = b""
        self._number = 0  # of the line published last
        self._published = asyncio.Event()  # replaced by a fresh one at every publish
        self._dirty = asyncio.Event()
        self._closed = False
        self.subscribers = 0
        self.published = 0

    def changed(self) -> None:
        """The ledger changed (or its draining flag): publish soon, coalesced."""
        self._dirty.set()

    def publish(self) -> None:
        self._line = self._report().stream_line()
        self._number += 1
        self.published += 1
        woken, self._published = self._published, asyncio.Event()
        woken.set()

    def close(self) -> None:
        """The service is stopping: every subscriber's stream ends."""
        self._closed = True
        self._published.set()

    async def next_line(self, seen: int) -> tuple[int, bytes] | None:
        """The newest line after number `seen` (at once, if there is one), or None once
        closed."""
        while self._number == seen and not self._closed:
            await self._published.wait()
        return None if self._closed else (self._number, self._line)

    async def publish_forever(self) -> None:
        """Publish on change, at most once per interval, and every heartbeat regardless."""
        self.publish()
        while True:
            # asyncio.timeout, not wait_for: before 3.12 wait_for loses a cancel that comes
            # as the event is set, and the service's shutdown would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_s):
                    await self._dirty.wait()
            self._dirty.clear()
            self.publish()
            await asyncio.sleep(self._interval_s)


class FeedListener:
    """Tells the feed of every change of the ledger, and passes it on (to the SQLite store).
    A `LedgerListener` by its methods (the protocol is structural: no base class, which the
    compiled ledger would not let an interpreted class take, `setup.py`)."""

    def __init__(self, feed: LoadFeed, then: LedgerListener | None) -> None:
        self._feed = feed
        self._then = then

    def session_started(self, session: Session) -> None:
        self._feed.changed()
        if self._then is not None:
            self._then.session_started(session)

    def sessions_ended(self, sessions: Iterable[Session]) -> None:
        self._feed.changed()
        if self._then is not None:
            self._then.sessions_ended(sessions)
