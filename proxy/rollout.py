"""Sampled futures: how many seconds over one request each place for a charge leads to.

The outlook (`proxy.outlook`) judges a choice by the grid as known now, over a few seconds,
with nothing more arriving. A rollout judges it by the next minute instead: for each substation
that can take the charge, book it there, then play `draws` sampled streams of the arrivals to
come (drawn from what the grid booked lately: `GridLately`), each placed greedily (the lowest
utilization after booking among the substations it fits), with the known sessions ending as the
views know them and the drawn ones a session after they start; and count the one-second samples
whose spread of utilization is over one request, plus the mean spread. Every place plays the
same draws, so what differs between two places is the place, not the luck of the draw.

Off by default (`HeadroomTuning.rollout_draws` 0; the proxy's `--rollout-draws`): with 48 draws,
on the user's failure scenario, it lowers the seconds over one request of a run by 4.7 on 192
seeds it was not chosen on (a third fewer seeds over one request), but one choice costs 5 ms
compiled (26 ms from the source) where the outlook costs microseconds (`python -m
bench.choice`; docs/balance-lab.md, "Sampled futures shipped as an option").

Pure: loads, capacities, ends, times and a random source in; costs out.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from proxy.tuning import HeadroomTuning
from proxy.view import SLOT_S, SubstationView


@dataclass(frozen=True, slots=True)
class GridLately:
    """What the grid booked lately, to draw the arrivals to come from: so many a second, of
    these sizes (kW), each lasting `session_s`."""

    per_s: float
    sizes_kw: tuple[float, ...]
    session_s: float


class RecentCharges:
    """The charges booked on the grid within the last `window_s` before a time (every booking
    this proxy hears of: its own, its sibling workers', the others' on the load streams)."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._charges: deque[tuple[float, float, float]] = deque()  # (booked at, kW, lasts s)

    def add(self, kw: float, booked_at: float, ends_at: float) -> None:
        self._charges.append((booked_at, kw, ends_at - booked_at))

    def lately(self, now: float) -> GridLately | None:
        """The rate, sizes and session length of the window before `now`; None if it is empty."""
        charges = self._charges
        while charges and charges[0][0] <= now - self._window_s:
            charges.popleft()
        if not charges:
            return None
        sizes = tuple(kw for _, kw, _ in charges)
        session_s = sum(lasts_s for _, _, lasts_s in charges) / len(charges)
        return GridLately(len(charges) / self._window_s, sizes, session_s)


@dataclass(frozen=True, slots=True)
class Futures:
    """What a choice needs to play futures: the grid's bookings lately, and the random source
    to draw from (the balancer's, so that a seeded run is the same run)."""

    lately: GridLately
    rng: random.Random


@dataclass(frozen=True, slots=True)
class Grid:
    """The grid a rollout starts from: each substation's capacity and projected load (kW), and
    the ends known (seconds from now, substation's place, kW), in order of time."""

    capacities_kw: list[float]
    loads_kw: list[float]
    ends: list[tuple[float, int, float]]


def draw_arrivals(
    lately: GridLately, horizon_s: float, draws: int, rng: random.Random
) -> list[list[tuple[float, float]]]:
    """`draws` streams of arrivals over the next `horizon_s` (seconds from now, kW): Poisson at
    the rate of `lately`, each of one of its sizes. (`random.expovariate` and `randrange` are
    Python code; `random()` is C: a third of a choice's cost was drawing.)"""
    streams: list[list[tuple[float, float]]] = []
    sizes, mean_gap_s = lately.sizes_kw, 1.0 / lately.per_s
    for _ in range(draws):
        stream: list[tuple[float, float]] = []
        at = -math.log(1.0 - rng.random()) * mean_gap_s
        while at < horizon_s:
            stream.append((at, sizes[int(rng.random() * len(sizes))]))
            at -= math.log(1.0 - rng.random()) * mean_gap_s
        streams.append(stream)
    return streams


@dataclass(frozen=True, slots=True)
class Timeline:
    """One draw's known ends and arrivals in order of time, shared by every place played on
    it: when, where (a known end's substation; -1 for an arrival) and kW."""

    times: list[float]
    places: list[int]
    kws: list[float]


def timeline(ends: list[tuple[float, int, float]], arrivals: list[tuple[float, float]]) -> Timeline:
    """`ends` and `arrivals` (each in order of time) merged; on a tie, the end first."""
    times: list[float] = []
    places: list[int] = []
    kws: list[float] = []
    next_end = next_arrival = 0
    while next_end < len(ends) or next_arrival < len(arrivals):
        if next_arrival == len(arrivals) or (
            next_end < len(ends) and ends[next_end][0] <= arrivals[next_arrival][0]
        ):
            when, place, kw = ends[next_end]
            next_end += 1
        else:
            when, kw = arrivals[next_arrival]
            place = -1
            next_arrival += 1
        times.append(when)
        places.append(place)
        kws.append(kw)
    return Timeline(times, places, kws)


class _DrawnEnds:
    """The ends of a play's sessions (the first, the charge itself), in order: they all last
    as long, so they end in the order they began."""

    def __init__(self, when: float, place: int, kw: float) -> None:
        self.times, self.places, self.kws = [when], [place], [kw]
        self.next = 0

    def add(self, when: float, place: int, kw: float) -> None:
        self.times.append(when)
        self.places.append(place)
        self.kws.append(kw)

    def end_until(self, when: float, loads: list[float]) -> None:
        """Take off `loads` every session ended by `when`."""
        times = self.times
        while self.next < len(times) and times[self.next] <= when:
            place = self.places[self.next]
            loads[place] = max(0.0, loads[place] - self.kws[self.next])
            self.next += 1


class _Samples:
    """The one-second samples of a play: how many are over the line, and the sum of all."""

    def __init__(self, line: float) -> None:
        self.line = line
        self.count = 0
        self.over = 0
        self.spread_sum = 0.0

    def take(self, loads: list[float], capacities: list[float]) -> None:
        spread = _spread(loads, capacities)
        if spread > self.line:
            self.over += 1
        self.spread_sum += spread
        self.count += 1


def seconds_over(
    grid: Grid,
    place: int,
    amount_kw: float,
    line: float,
    session_s: float,
    moments: Timeline,
    horizon_s: float,
) -> float:
    """One play: `amount_kw` booked at `place` now, then the arrivals of `moments`, each
    placed greedily. The seconds of (0, horizon_s] whose spread is over `line`, plus the mean
    spread of them all. A sample at the time of a moment comes after it."""
    capacities, loads = grid.capacities_kw, list(grid.loads_kw)
    loads[place] += amount_kw
    # The drawn sessions' ends, in order (the first, the charge itself): when, where, kW.
    drawn = _DrawnEnds(session_s, place, amount_kw)
    samples = _Samples(line)
    next_sample = 1.0
    times, places, kws = moments.times, moments.places, moments.kws
    for number in range(len(times)):
        when = times[number]
        if when >= horizon_s:
            break
        while next_sample < when:
            drawn.end_until(next_sample, loads)
            samples.take(loads, capacities)
            next_sample += 1.0
        drawn.end_until(when, loads)
        at, kw = places[number], kws[number]
        if at >= 0:  # a known end
            loads[at] = max(0.0, loads[at] - kw)
            continue
        at = _lowest_after(loads, capacities, kw)
        if at >= 0:
            loads[at] += kw
            drawn.add(when + session_s, at, kw)
    while next_sample <= horizon_s:
        drawn.end_until(next_sample, loads)
        samples.take(loads, capacities)
        next_sample += 1.0
    return samples.over + samples.spread_sum / max(1, samples.count)


def _lowest_after(loads: list[float], capacities: list[float], kw: float) -> int:
    """The substation with the lowest utilization after booking `kw`, of those it fits; -1."""
    best, best_utilization = -1, 0.0
    for number in range(len(loads)):
        after_kw = loads[number] + kw
        if after_kw <= capacities[number]:
            utilization = after_kw / capacities[number]
            if best < 0 or utilization < best_utilization:
                best, best_utilization = number, utilization
    return best


def _spread(loads: list[float], capacities: list[float]) -> float:
    highest = lowest = loads[0] / capacities[0]
    for number in range(1, len(loads)):
        utilization = loads[number] / capacities[number]
        if utilization > highest:
            highest = utilization
        elif utilization < lowest:
            lowest = utilization
    return highest - lowest


def rollout_costs(
    grid: Grid,
    places: list[int],
    amount_kw: float,
    line: float,
    lately: GridLately,
    horizon_s: float,
    draws: int,
    rng: random.Random,
    race: Race | None = None,
) -> list[float]:
    """For each of `places`, the mean of `seconds_over` over up to `draws` sampled streams of
    arrivals (the same streams for every place). With `race`, the streams come in batches, and
    after each a place clearly worse than the best so far (`Race.clearly_worse`) plays no more:
    its mean so far is its cost. Without, every place plays all `draws`."""
    batch = draws if race is None else max(1, race.batch)
    plays: list[list[float]] = [[] for _ in places]
    playing = list(range(len(places)))
    played = 0
    while played < draws and playing:
        count = min(batch, draws - played)
        moments = [
            timeline(grid.ends, arrivals)
            for arrivals in draw_arrivals(lately, horizon_s, count, rng)
        ]
        for at in playing:
            for draw in moments:
                cost = seconds_over(
                    grid, places[at], amount_kw, line, lately.session_s, draw, horizon_s
                )
                plays[at].append(cost)
        played += count
        if race is not None:
            playing = race.still_playing(plays, playing)
    return [sum(costs) / max(1, len(costs)) for costs in plays]


@dataclass(frozen=True, slots=True)
class Race:
    """Draws in batches of `batch`: after each, a place whose cost plus `offsets` (what the
    key adds to it) is above the best's by more than `z` standard errors of their difference,
    draw by draw, plays no more."""

    batch: int
    z: float
    offsets: list[float]

    def still_playing(self, plays: list[list[float]], playing: list[int]) -> list[int]:
        if len(playing) < 2:
            return []
        count = len(plays[playing[0]])
        means = {at: sum(plays[at]) / count + self.offsets[at] for at in playing}
        best = min(playing, key=means.__getitem__)
        kept = [best]
        for at in playing:
            if at != best and not self.clearly_worse(
                plays[at], plays[best], means[at] - means[best]
            ):
                kept.append(at)
        return kept if len(kept) > 1 else []

    def clearly_worse(self, costs: list[float], best_costs: list[float], gap: float) -> bool:
        count = len(costs)
        if count < 2:
            return False
        differences = [cost - best for cost, best in zip(costs, best_costs, strict=True)]
        mean = sum(differences) / count
        variance = sum((d - mean) ** 2 for d in differences) / (count - 1)
        return gap > self.z * math.sqrt(variance / count)


def futures_ahead(
    serving: list[SubstationView],
    loads: list[float],
    full: list[int],
    shipped: list[float],
    amount_kw: float,
    now: float,
    tuning: HeadroomTuning,
    one_request_kw: float,
    futures: Futures,
) -> list[float] | None:
    """The rollout's cost of each of `full` (`rollout_costs`): the grid as the views know it
    at `now`, their ends those of the sessions this proxy knows of. Only those whose `shipped`
    key (the outlook and bunching) is within `rollout_band` of the lowest are played; the
    others cost more than any play can (the horizon's seconds, and 2). None when fewer than
    two are within it, or when a substation's capacity is unknown (no utilization to judge
    it by)."""
    capacities = [view.capacity_kw or 0.0 for view in serving]
    best = min(shipped)
    close = [place for place, key in enumerate(shipped) if key <= best + tuning.rollout_band]
    if len(close) < 2 or not all(capacities):
        return None
    horizon_s = tuning.rollout_horizon_s
    ends = [
        (max(0.0, slot * SLOT_S - now), number, kw)
        for number, view in enumerate(serving)
        for slot, kw in zip(view.ending_slots, view.ending_slot_kw, strict=True)
        if slot * SLOT_S < now + horizon_s
    ]
    ends.sort()
    line = max(amount_kw, one_request_kw) / min(capacities)
    grid = Grid(capacities, loads, ends)
    race = None
    if tuning.rollout_batch > 0:
        offsets = [tuning.rollout_key_weight * shipped[place] for place in close]
        race = Race(tuning.rollout_batch, tuning.rollout_race_z, offsets)
    played = rollout_costs(
        grid,
        [full[place] for place in close],
        amount_kw,
        line,
        futures.lately,
        horizon_s,
        tuning.rollout_draws,
        futures.rng,
        race,
    )
    costs = [horizon_s + 2.0] * len(full)
    for place, cost in zip(close, played, strict=True):
        costs[place] = cost
    return costs
