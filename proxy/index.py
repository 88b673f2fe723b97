"""Serving substations indexed by projected utilization, so that a choice among thousands costs
what it costs among ten.

What `headroom` wants above `full_scan_limit` substations is the lowest utilization *after*
booking, `(load + kw) / capacity`: it depends on the charge's kW and each capacity, so no single
order of the substations answers it. The index keeps them by capacity class (capacities within
`CLASS_RATIO` of each other) and, within a class, in order of projected utilization. Inside a
class the lowest utilization is the lowest after booking but for the class's spread of
capacities, so the best is among the classes' heads: at most `kw / capacity x (CLASS_RATIO -
1)` above the exact best, a few thousandths of a request. A choice reads a few entries per
class, O(classes x log n), whatever the number of substations; an update is O(log n).

Pure, like the views it orders: the balancer calls `update` whenever a view's projected load,
capacity or health changes, and the index keeps each view's projected load as of then, so a
choice reads numbers instead of working each one out again (the same arithmetic as the view's:
`test_index` checks it against the views after random changes). No clock, no I/O.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Collection, Iterator

from sortedcontainers import SortedList

from proxy.view import SubstationView

CLASS_RATIO = 1.1
# Entries read per class beyond the best, when picking at random within the band: bounds a
# choice's cost where many substations sit within the band.
BAND_LIMIT = 64

_Entry = tuple[SubstationView, float]  # a view and its projected load kW as of its update


class UtilizationIndex:
    def __init__(self) -> None:
        self._classes: dict[int, SortedList] = {}  # class -> SortedList of (utilization, order)
        self._entries: dict[str, tuple[int, float, int]] = {}  # key -> (class, utilization, order)
        self._views: dict[int, _Entry] = {}  # order -> (view, its projected load kW)
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def indexed_loads(self) -> Iterator[tuple[SubstationView, float]]:
        """Each view in the index with the projected load it is indexed at."""
        yield from self._views.values()

    def update(self, view: SubstationView) -> None:
        """Take the view's present state: in the index while serving with a known capacity."""
        self.remove(view.key)
        capacity_kw = view.capacity_kw
        if not view.serving or not capacity_kw:
            return
        number = math.floor(math.log(capacity_kw, CLASS_RATIO))
        order = next(self._order)
        load_kw = view.projected_load_kw
        utilization = load_kw / capacity_kw  # as `projected_utilization`
        self._classes.setdefault(number, SortedList()).add((utilization, order))
        self._entries[view.key] = (number, utilization, order)
        self._views[order] = (view, load_kw)

    def remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        number, utilization, order = entry
        members = self._classes[number]
        members.remove((utilization, order))
        if not members:
            del self._classes[number]
        del self._views[order]

    def best(
        self,
        kw: float,
        exclude: Collection[str] = (),
        among: int = 1,
        rng: random.Random | None = None,
    ) -> SubstationView | None:
        """A substation with room for `kw` at the lowest utilization after booking it (within
        the classes' spread); with `among` > 1 and `rng`, one at random among the `among`
        lowest."""
        if among <= 1 or rng is None:
            best: SubstationView | None = None
            best_after = 0.0
            for number in self._classes:  # each class's head: the first lowest of them all
                for after, view in self._walk(number, kw, exclude, 1):
                    if best is None or after < best_after:
                        best, best_after = view, after
            return best
        lowest = self.lowest(kw, exclude, among)
        return rng.choice(lowest) if lowest else None

    def lowest(
        self, kw: float, exclude: Collection[str] = (), count: int = 1
    ) -> list[SubstationView]:
        """Up to `count` substations with room for `kw`, the lowest utilization after booking
        it first (within the classes' spread): at most `count` read from each class."""
        found: list[tuple[float, SubstationView]] = []
        for number in self._classes:
            found += self._walk(number, kw, exclude, count)
        # Each class is in utilization order; after booking, their merge and each class's own
        # spread of capacities may reorder them. A stable sort, on the utilization alone.
        found.sort(key=_utilization_after)
        return [view for _, view in found[:count]]

    def _walk(
        self, number: int, kw: float, exclude: Collection[str], count: int
    ) -> list[tuple[float, SubstationView]]:
        """Up to `count` of a class's members with room for `kw` (as `has_room`), from the
        lowest utilization, at most `BAND_LIMIT` read, each with its utilization once `kw`
        more is booked there (as `utilization_with`). Within a class, room shrinks as
        utilization grows (but for the class's spread), so the walk stops at the first full."""
        views = self._views
        found: list[tuple[float, SubstationView]] = []
        limit = BAND_LIMIT + len(exclude)
        give_up_at = len(exclude) + 2
        for read, (_, order) in enumerate(self._classes[number]):
            if read >= limit:
                break
            view, load_kw = views[order]
            if exclude and view.key in exclude:
                continue
            capacity_kw = view.capacity_kw
            if not capacity_kw or capacity_kw - load_kw < kw:  # as `has_room`
                if read >= give_up_at:
                    break
                continue
            found.append(((load_kw + kw) / capacity_kw, view))
            if len(found) >= count:
                break
        return found


def _utilization_after(found: tuple[float, SubstationView]) -> float:
    return found[0]
