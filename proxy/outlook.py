"""How even the grid stays over the next few seconds, for each place a charge could go.

Ranking by utilization alone is greedy about the present. Sessions booked together end
together, 60 s later, and a substation whose sessions are about to end will be the emptiest in
a moment whatever we do now. So among the substations that can take the full amount, `headroom`
prefers the one that keeps the spread of utilization smallest on average over the next
`lookahead_s`, counting the ends of the sessions this proxy booked and assuming nothing else
arrives (later arrivals will be balanced when they come). Measured with `python -m
proxy.simulate` (rush-hour.yaml, seeds 0-3): spread_p95 0.093-0.101 greedy, 0.074-0.081 with
5 s of lookahead. In the runs that chose 5 s, 1 s was too short to see the ends coming (0.079-
0.095), and 15-30 s weighed ends that later arrivals would have made up for (0.073-0.080, but
0.115-0.157 on substation-failure.yaml against 0.095-0.124 with 5 s).

The balance is judged second by second: the spread within one request or not. So the part of
a spread over one request (the largest charge lately over the smallest capacity: the outlook's
`over_line`) counts `over_weight` times more (measured on failures and several proxies:
docs/balance-lab.md, "Seconds over one request weigh more").

The lookahead is `HeadroomTuning.lookahead_s` (`proxy.tuning`). Pure: views and `now` in, a
number out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from proxy.tuning import HeadroomTuning
from proxy.view import SLOT_S, SubstationView, slot_of

# Read once: compiled, `float("inf")` parsed its text on every call of `_extremes`.
_INFINITY: Final = float("inf")


class Outlook:
    """The utilization of each substation with a known capacity over [now, now + lookahead_s],
    as known now: piecewise constant, stepping down where booked sessions end (by slot)."""

    def __init__(
        self,
        views: list[SubstationView],
        now: float,
        lookahead_s: float,
        utilization: Sequence[float] | None = None,
        over_line: float = _INFINITY,
        over_weight: float = 0.0,
    ) -> None:
        """`utilization`: each view's projected utilization, when the caller has it already.
        `over_line`: the spread (in utilization) of one request; the part of a spread above it
        counts `over_weight` times more (0: the plain mean spread)."""
        self._views = views
        self._now = now
        self._lookahead_s = lookahead_s
        self._over_line = over_line
        self._over_weight = over_weight
        if utilization is None:
            utilization = [view.projected_utilization for view in views]
        self._utilization = list(utilization)

    def mean_spreads_with(self, numbers: list[int], kw: float) -> list[float]:
        """For each view in `numbers` (places in the list the outlook was made from), the mean
        spread over the lookahead if `kw` more were booked there now.

        One pass through time: the views' ends (each view's list is in slot order, so the
        next end of all is the lowest of their next ones, the first view's on a tie) step the
        utilization down, and each stretch between two ends adds its spread for every view
        asked about as soon as it closes. Booking only raises the one view: the highest is
        then the stretch's highest or that view, and the lowest is the lowest of the others or
        that view, so each stretch's highest, lowest and second lowest are found once."""
        views, now, lookahead_s = self._views, self._now, self._lookahead_s
        current = list(self._utilization)  # stepped down as sessions end
        added = [kw / (views[number].capacity_kw or 1.0) for number in numbers]
        totals = [0.0] * len(numbers)
        if lookahead_s <= 0.0:  # no lookahead: the spread now, greedy about the present
            self._add_stretch(totals, 1.0, current, numbers, added)
            return totals
        first, last = slot_of(now), slot_of(now + lookahead_s)
        # Each view's next end not yet taken (after `settle`, none is before `first`).
        cursors = [_first_at_or_after(view.ending_slots, first) for view in views]
        start = now
        while True:
            slot, number = last + 1, -1
            for place, view in enumerate(views):
                cursor = cursors[place]
                if cursor < len(view.ending_slots) and view.ending_slots[cursor] < slot:
                    slot, number = view.ending_slots[cursor], place
            if number < 0:
                break
            # From now in the current slot, from the slot's start in a later one.
            when = now if slot == first else slot * SLOT_S
            if when > start:
                self._add_stretch(totals, when - start, current, numbers, added)
                start = when
            view = views[number]
            freed = view.ending_slot_kw[cursors[number]] / (view.capacity_kw or 1.0)
            current[number] = max(0.0, current[number] - freed)
            cursors[number] = cursors[number] + 1
        self._add_stretch(totals, now + lookahead_s - start, current, numbers, added)
        return [total / lookahead_s for total in totals]

    def _add_stretch(
        self,
        totals: list[float],
        seconds: float,
        utilization: list[float],
        numbers: list[int],
        added: list[float],
    ) -> None:
        """Add to each total the spread over `seconds` with its view's `added` share booked
        (its part over the line weighed `over_weight` times more)."""
        highest, lowest, lowest_at, lowest_of_others = _extremes(utilization)
        line = self._over_line
        weight = self._over_weight
        for place, number in enumerate(numbers):
            raised = utilization[number] + added[place]
            others_lowest = lowest_of_others if number == lowest_at else lowest
            top = raised if raised > highest else highest
            bottom = raised if raised < others_lowest else others_lowest
            spread = top - bottom
            if spread > line:
                spread = spread + weight * (spread - line)
            totals[place] = totals[place] + seconds * spread


def spreads_ahead(
    serving: list[SubstationView],
    loads: list[float],
    full: list[int],
    amount_kw: float,
    now: float,
    tuning: HeadroomTuning,
    one_request_kw: float,
) -> list[float]:
    """For each of `full` (places in `serving`, each with a capacity; `loads`, each one's
    projected load), the mean spread over the lookahead if `amount_kw` were booked there, as
    `headroom` ranks them; one request is the larger of `amount_kw` and `one_request_kw` (the
    largest charge booked lately) over the smallest capacity known."""
    known: list[int] = []
    utilization: list[float] = []
    smallest_kw = 0.0
    for number, view in enumerate(serving):
        capacity_kw = view.capacity_kw
        if capacity_kw:
            known.append(number)
            utilization.append(loads[number] / capacity_kw)
            if not smallest_kw or capacity_kw < smallest_kw:
                smallest_kw = capacity_kw
    line = max(amount_kw, one_request_kw) / smallest_kw
    views = [serving[number] for number in known]
    outlook = Outlook(views, now, tuning.lookahead_s, utilization, line, tuning.over_weight)
    # Each one that fits has a capacity: its place in the outlook is its place in `known`.
    in_outlook = full if len(known) == len(serving) else [known.index(n) for n in full]
    return outlook.mean_spreads_with(in_outlook, amount_kw)


def _first_at_or_after(slots: list[int], first: int) -> int:
    """The place of the first of `slots` (in order) at or after `first`: a count from the
    front, as none or few are before it (compiled, a call of `bisect` cost more)."""
    place = 0
    while place < len(slots) and slots[place] < first:
        place += 1
    return place


def _extremes(utilization: list[float]) -> tuple[float, float, int, float]:
    """The highest, the lowest, the first place of the lowest, and the lowest of the others
    (infinite if there are none): what sorting would give, in one pass."""
    highest = lowest = utilization[0]
    lowest_at, lowest_of_others = 0, _INFINITY
    for place in range(1, len(utilization)):
        value = utilization[place]
        highest = max(highest, value)
        if value < lowest:
            lowest, lowest_at, lowest_of_others = value, place, lowest
        elif value < lowest_of_others:
            lowest_of_others = value
    return highest, lowest, lowest_at, lowest_of_others
