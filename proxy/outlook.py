"""How even the grid stays over the next few seconds, for each place a charge could go.

Ranking by utilization alone is greedy about the present. Sessions booked together end
together, 60 s later, and a substation whose sessions are about to end will be the emptiest in
a moment whatever we do now. So among the substations that can take the full amount, `headroom`
prefers the one that keeps the spread of utilization smallest on average over the next
`LOOKAHEAD_S`, counting the ends of the sessions this proxy booked and assuming nothing else
arrives (later arrivals will be balanced when they come). Measured with `python -m
proxy.simulate` (rush-hour.yaml, seeds 0-3): spread_p95 0.093-0.101 greedy, 0.074-0.081 with
5 s of lookahead. In the runs that chose 5 s, 1 s was too short to see the ends coming (0.079-
0.095), and 15-30 s weighed ends that later arrivals would have made up for (0.073-0.080, but
0.115-0.157 on substation-failure.yaml against 0.095-0.124 with 5 s).

Pure: views and `now` in, a number out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.view import SubstationView

LOOKAHEAD_S = 5.0
# Ends are counted by slots of this long (the first slot of the lookahead from `now` on), so
# an outlook costs a few dict lookups per substation whatever the number of sessions: at 6,000
# charges a second of 2-second sessions, walking every session ending within 5 s cost 2 ms.
SLOT_S = 0.25


def slot_of(when: float) -> int:
    return math.floor(when / SLOT_S)


class Outlook:
    """The utilization of each substation with a known capacity over [now, now + LOOKAHEAD_S],
    as known now: piecewise constant, stepping down where booked sessions end (by slot)."""

    def __init__(self, views: Sequence[SubstationView], now: float) -> None:
        self._index = {id(view): number for number, view in enumerate(views)}
        utilization = [view.projected_utilization for view in views]
        first, last = slot_of(now), slot_of(now + LOOKAHEAD_S)
        steps: list[tuple[float, int, float]] = []  # (when, which, utilization freed)
        for number, view in enumerate(views):
            if not view.ending_kw:
                continue
            capacity_kw = view.capacity_kw or 1.0  # views without a capacity are not passed
            for slot in range(first, last + 1):
                kw = view.ending_kw.get(slot)
                if kw is not None:
                    # Counted from the slot's start (from now for the current one).
                    steps.append((max(now, slot * SLOT_S), number, kw / capacity_kw))
        steps.sort()
        horizon = now + LOOKAHEAD_S
        self._segments: list[tuple[float, list[float]]] = []  # (seconds, utilization of each)
        start = now
        for when, number, freed in steps:
            if when > start:
                self._segments.append((when - start, list(utilization)))
                start = when
            utilization[number] = max(0.0, utilization[number] - freed)
        self._segments.append((horizon - start, utilization))

    def mean_spread_with(self, view: SubstationView, kw: float) -> float:
        """The mean spread over the lookahead if `kw` more were booked at `view` now."""
        number = self._index[id(view)]
        added = kw / (view.capacity_kw or 1.0)
        total = 0.0
        for seconds, utilization in self._segments:
            before = utilization[number]
            utilization[number] = before + added
            total += seconds * (max(utilization) - min(utilization))
            utilization[number] = before
        return total / LOOKAHEAD_S
