"""The sessions a substation booked lately, for its load stream: every proxy hears of every
booking, not only of its own.

A proxy judges a place by more than its load now: sessions booked together end together a
session later, so `headroom` counts what ends within its lookahead and what was booked there
lately (`proxy.outlook`, the bunching term). It knew both only of the sessions it booked itself
(and its sibling workers'), so each of several replicas judged on its own share of the book:
4 proxies in front of substation-failure's three substations gave spread_p95 0.102-0.152
against 0.081-0.089 through one (docs/balance-lab.md). So each line of `GET /load/stream`
carries the sessions booked lately, at most `MAX_BOOKED` of them, each with the ledger's
sequence after it was booked (the first report that holds it), the name of the proxy worker
that asked (`X-Proxy-Ref`, empty for a client that named none), its kW, its end and its vehicle
(so that every proxy knows where a vehicle charges: its repeat, through any replica or worker,
asks there and gets its session back, where it was booked again elsewhere). A proxy
takes each booking once, by its sequence, and skips its own proxy's: its workers tell each
other already (`proxy.siblings`). A subscriber that falls behind skips to
the newest line (`substation.feed`); the window, `BOOKED_LINES` report intervals, lets it
still hear what the few lines it skipped carried. A booking is on about that many lines, each
read by every proxy: a longer window would cost every proxy more to read for little (at the
default 50 ms, 0.25 s).

Pure: numbers and names in, bookings out; the clock is an argument.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Final, NamedTuple

from grid.seen import is_proxy_ref

BOOKED_LINES: Final = 5  # the window, in report intervals
MAX_BOOKED: Final = 64
MAX_VEHICLE_ID: Final = 64  # as `grid.protocol.VEHICLE_ID_PATTERN` allows
# A new subscriber's first lines carry every vehicle charging there (`"vehicles"`), this many
# a line (about 20 KiB at most): a proxy that starts, restarts or joins knows where each
# vehicle charges, and not only those booked since.
VEHICLES_A_LINE: Final = 256

Charging = tuple[str, float]  # a vehicle and when its session ends (Unix seconds)


class Booking(NamedTuple):
    seq: int  # the ledger's sequence after the booking (`X-Substation-Load-Seq`'s number)
    ref: str  # the proxy worker that asked (`X-Proxy-Ref`), or ""
    kw: float  # granted
    ends_at: float  # Unix seconds
    vehicle_id: str = ""  # "" from a substation from before vehicles were told (4 fields)


def booked_window_s(report_interval_s: float) -> float:
    """How long a booking stays on the lines of a stream with this report interval."""
    return BOOKED_LINES * report_interval_s


class RecentBookings:
    """The bookings of the last `window_s`, at most `limit` of them, oldest first."""

    def __init__(self, window_s: float, limit: int = MAX_BOOKED) -> None:
        self._window_s = window_s
        self._recent: deque[tuple[float, Booking]] = deque(maxlen=limit)
        self._snapshot: tuple[Booking, ...] | None = ()

    def add(
        self, seq: int, ref: str | None, kw: float, ends_at: float, vehicle_id: str, now: float
    ) -> None:
        """`ref` as the charge named it: one not in `X-Proxy-Ref`'s form is kept as ""."""
        named = ref if ref is not None and is_proxy_ref(ref) else ""
        self._recent.append((now, Booking(seq, named, kw, ends_at, vehicle_id)))
        self._snapshot = None

    def since(self, now: float) -> tuple[Booking, ...]:
        """Those booked within the window before `now`, oldest first."""
        recent, oldest = self._recent, now - self._window_s
        while recent and recent[0][0] < oldest:
            recent.popleft()
            self._snapshot = None
        if self._snapshot is None:
            self._snapshot = tuple(booking for _, booking in recent)
        return self._snapshot


def bookings_to_json(bookings: tuple[Booking, ...]) -> list[list[object]]:
    """Ends to the nearest millisecond, as the session JSON gives them (to keep lines short).
    Not `round(ends_at, 3)`: a booking is on about `BOOKED_LINES` lines, and rounding to
    digits took a substation 1,100 instructions a time (docs/performance.md)."""
    return [
        [seq, ref, kw, math.floor(ends_at * 1000 + 0.5) / 1000, vehicle_id]
        for seq, ref, kw, ends_at, vehicle_id in bookings
    ]


def bookings_from_json(value: object, after_seq: int = -1) -> tuple[Booking, ...] | None:
    """The stream's `booked` list, less the entries of sequence `after_seq` or before (those a
    proxy took from an earlier line: each booking is on about `BOOKED_LINES` lines, and each
    was judged the first time); None when absent or when an entry it judges is malformed (the
    report is still taken, without them: a proxy then knows what it knew before). Every proxy
    reads every line, so this is written for speed: exact types (JSON gives no subclasses),
    and each proxy's name checked once (`is_proxy_ref`)."""
    if type(value) is not list or len(value) > MAX_BOOKED:
        return None
    bookings = []
    for entry in value:
        if type(entry) is not list or len(entry) not in (4, 5) or type(entry[0]) is not int:
            return None
        if entry[0] <= after_seq:
            continue
        booking = _booking(entry)
        if booking is None:
            return None
        bookings.append(booking)
    return tuple(bookings)


def _booking(entry: list[Any]) -> Booking | None:
    """A `booked` entry of a sequence not taken yet, judged: None if malformed."""
    seq, ref, kw, ends_at = entry[:4]
    vehicle_id = entry[4] if len(entry) == 5 else ""
    if type(ref) is not str or (ref and not is_proxy_ref(ref)):
        return None
    if type(vehicle_id) is not str or len(vehicle_id) > MAX_VEHICLE_ID:
        return None
    kw, ends_at = _finite(kw), _finite(ends_at)
    if kw is None or ends_at is None or kw <= 0:
        return None
    return Booking(seq, ref, kw, ends_at, vehicle_id)


def charging_chunks(charging: list[Charging]) -> list[tuple[Charging, ...]]:
    """`charging` in pieces of at most `VEHICLES_A_LINE`, one a stream line."""
    return [
        tuple(charging[first : first + VEHICLES_A_LINE])
        for first in range(0, len(charging), VEHICLES_A_LINE)
    ]


def charging_to_json(charging: tuple[Charging, ...]) -> list[list[object]]:
    """Ends to the nearest millisecond, as `bookings_to_json` writes them."""
    return [
        [vehicle_id, math.floor(ends_at * 1000 + 0.5) / 1000] for vehicle_id, ends_at in charging
    ]


def charging_from_json(value: object) -> tuple[Charging, ...] | None:
    """A stream line's `vehicles`; None when absent or malformed (the report is still taken)."""
    if type(value) is not list or len(value) > VEHICLES_A_LINE:
        return None
    charging = []
    for entry in value:
        if type(entry) is not list or len(entry) != 2:
            return None
        vehicle_id, ends_at = entry[0], _finite(entry[1])
        if type(vehicle_id) is not str or not 0 < len(vehicle_id) <= MAX_VEHICLE_ID:
            return None
        if ends_at is None:
            return None
        charging.append((vehicle_id, ends_at))
    return tuple(charging)


def _finite(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (`true` is no number)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    return float(value) if type(value) is int else None
