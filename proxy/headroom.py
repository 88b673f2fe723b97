"""The `headroom` policy: every rule of its ranking, and of the last looks, in one place.

What it may know: the views (`proxy.view`) as the balancer settled them for `now`, the request's
full and curtailed kW, and the substations to leave out. What it must not do: change a view,
read a clock or do I/O. Its only state is the random source for sampling. The tuning is one
frozen value (`proxy.tuning.HeadroomTuning`); the simulator varies it with `--set headroom={...}`.

Measured with `python -m proxy.simulate` (docs/balance-lab.md has the figures and history).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from proxy.index import UtilizationIndex
from proxy.outlook import spreads_ahead
from proxy.rollout import Futures, futures_ahead
from proxy.tuning import HeadroomTuning
from proxy.view import SubstationView, fits, fits_at, has_room


def rank(
    views: Sequence[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    attempts: int,
    now: float | None,
    exclude: Collection[str],
    tuning: HeadroomTuning,
    rng: random.Random,
    index: UtilizationIndex | None = None,
    own_index: UtilizationIndex | None = None,
    largest_lately_kw: float = 0.0,
    one_request_kw: float = 0.0,
    futures: Futures | None = None,
) -> list[SubstationView]:
    """Up to `attempts` substations to ask in turn, best first. The rules, in order:

    1. Only serving substations (healthy or suspect, not draining), none in `exclude`.
    2. Up to `full_scan_limit` substations: those projected to take the full amount first,
       ranked by the evenest grid over the next `lookahead_s` if booked there (what a
       spread is over one request weighed `over_weight` times more: `proxy.outlook`), plus
       `recent_weight` times the share of their capacity booked there lately (`evenness`);
       then by utilization after booking, then by requests in flight. Then those that can take
       the curtailed amount, most headroom first; then those not yet reported on; then the
       full ones (a view may be a poll old: only the substation's ledger knows). Without
       `now`, the outlook and the bunching are left out (the present alone). With `futures`
       (`tuning.rollout_draws` on), sampled futures weigh in first (`proxy.rollout`).
    3. More substations (the balancer keeps `index`): the lowest utilization after booking
       the full amount, found in the index without a scan, picked at random among the
       `herd_size` lowest (anti-herding); with a herd of one (fewer than 2 x `herd_share`
       substations), of the `own_choices` lowest the least booked lately, as in rule 4;
       none takes the full amount: the same for the curtailed amount (the lowest); none at
       all: rule 2 on the present alone.
    4. With a shard (the balancer keeps `own_index`, the substations this proxy owns) of at
       least `own_part_min` substations and one substation to find: among its own (no other
       proxy books there by choice, so there is no herd to break), of the `own_choices`
       lowest after booking the least booked lately (`own_recent_weight`; without `now`, the
       lowest), unless the index's pick anywhere would be lower by more than `shard_slack`
       even with its owner's charge booked too (the owner may be booking it this moment; its
       charge taken as `largest_lately_kw`, the largest booked on the grid lately, or as this
       one if larger); then rule 3.
    """
    if index is not None:
        chosen = _by_index(
            index,
            own_index,
            amount_kw,
            min_amount_kw,
            attempts,
            now,
            exclude,
            tuning,
            rng,
            largest_lately_kw,
        )
        if chosen:
            return chosen
    serving = [view for view in views if view.serving and view.key not in exclude]
    if len(serving) > tuning.full_scan_limit:
        now = None
    if attempts == 1:  # what the charge path asks for: the head in one pass, no sort
        best = best_by_headroom(
            serving, amount_kw, min_amount_kw, now, tuning, one_request_kw, futures
        )
        return [] if best is None else [best]
    ranked = rank_all(serving, amount_kw, min_amount_kw, now, tuning, one_request_kw, futures)
    return ranked[:attempts]


def _by_index(
    index: UtilizationIndex,
    own_index: UtilizationIndex | None,
    amount_kw: float,
    min_amount_kw: float,
    attempts: int,
    now: float | None,
    exclude: Collection[str],
    tuning: HeadroomTuning,
    rng: random.Random,
    largest_lately_kw: float,
) -> list[SubstationView]:
    """Rules 4 and 3 (`rank`); none found: an empty list, and rule 2 on the present alone."""
    herd = herd_size(len(index), tuning)
    if attempts == 1 and own_index is not None and len(own_index) >= tuning.own_part_min:
        owner_kw = max(amount_kw, largest_lately_kw)
        own_pick = _own_first(
            index, own_index, amount_kw, owner_kw, exclude, now, tuning, rng, herd
        )
        if own_pick is not None:
            return [own_pick]
    if attempts == 1 and herd == 1:
        # No herd to break: the least bunched of the lowest, as rule 4 in a shard.
        lowest = index.lowest(amount_kw, exclude, tuning.own_choices)
        pick = _least_bunched(lowest, amount_kw, now, tuning)
        if pick is not None:
            return [pick]
    return _from_index(index, amount_kw, min_amount_kw, attempts, exclude, rng, herd)


def herd_size(indexed: int, tuning: HeadroomTuning) -> int:
    """How many of the lowest substations rule 3 picks among at random: `herd_choices`, but
    never more than one in `herd_share` of those indexed. On a grid of a dozen, the 16 lowest
    are all of them, and a pick among them all ignores how full each is (8 proxies over 12
    substations, scenarios/dozen-substations.yaml: spread_p95 0.39-0.41 before, 0.110-0.115
    with this rule; docs/balance-lab.md)."""
    return max(1, min(tuning.herd_choices, indexed // tuning.herd_share))


def _from_index(
    index: UtilizationIndex,
    amount_kw: float,
    min_amount_kw: float,
    attempts: int,
    exclude: Collection[str],
    rng: random.Random,
    herd: int,
) -> list[SubstationView]:
    chosen: list[SubstationView] = []
    left_out = set(exclude)
    for kw in dict.fromkeys((amount_kw, min_amount_kw)):  # the curtailed amount, if it differs
        while len(chosen) < attempts:
            found = index.best(kw, left_out, herd, rng)
            if found is None:
                break
            chosen.append(found)
            left_out.add(found.key)
    return chosen


def _own_first(
    index: UtilizationIndex,
    own_index: UtilizationIndex,
    amount_kw: float,
    owner_kw: float,
    exclude: Collection[str],
    now: float | None,
    tuning: HeadroomTuning,
    rng: random.Random,
    herd: int,
) -> SubstationView | None:
    """Rule 4: the full amount only; None leaves the curtailed amount to rule 3. `owner_kw`:
    what the owner of the substation found elsewhere may be booking there at the same time."""
    own = _least_bunched(
        own_index.lowest(amount_kw, exclude, tuning.own_choices), amount_kw, now, tuning
    )
    elsewhere = index.best(amount_kw, exclude, herd, rng)
    if own is None:
        return elsewhere
    # Elsewhere is some other proxy's own emptiest, which it may be booking this very moment:
    # going there pays only if it would still be emptier with the owner's charge as well.
    if elsewhere is not None and elsewhere.utilization_with(amount_kw + owner_kw) < (
        own.utilization_with(amount_kw) - tuning.shard_slack
    ):
        return elsewhere
    return own


def _least_bunched(
    views: list[SubstationView], amount_kw: float, now: float | None, tuning: HeadroomTuning
) -> SubstationView | None:
    """Of `views`, the lowest utilization after booking plus `own_recent_weight` times the share
    of its capacity booked there lately; without `now`, the lowest utilization after booking."""

    def key(view: SubstationView) -> float:
        utilization = view.utilization_with(amount_kw)
        if now is None:
            return utilization
        recent_kw = view.recently_booked_kw(now, tuning.recent_fade_s)
        return utilization + tuning.own_recent_weight * recent_kw / (view.capacity_kw or 1.0)

    return min(views, key=key, default=None)


def rank_all(
    serving: list[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    now: float | None,
    tuning: HeadroomTuning,
    one_request_kw: float = 0.0,
    futures: Futures | None = None,
) -> list[SubstationView]:
    """Rule 2 as a full order."""
    loads = [view.projected_load_kw for view in serving]
    full = _fitting(serving, loads, amount_kw)
    keys = evenness(serving, loads, full, amount_kw, now, tuning, one_request_kw, futures)
    in_full = set(full)
    curtailed: list[SubstationView] = []
    rest: list[SubstationView] = []
    for number, view in enumerate(serving):
        if number in in_full:
            continue
        if fits(view, min_amount_kw):
            curtailed.append(view)
        else:
            rest.append(view)
    ranked = [serving[full[place]] for place in sorted(range(len(full)), key=keys.__getitem__)]
    curtailed.sort(key=lambda view: -(view.projected_headroom_kw or 0.0))
    rest.sort(key=_unknown_first_then_most_headroom)
    return ranked + curtailed + rest


def best_by_headroom(
    serving: list[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    now: float | None,
    tuning: HeadroomTuning,
    one_request_kw: float = 0.0,
    futures: Futures | None = None,
) -> SubstationView | None:
    """`rank_all(...)[0]`, without sorting what cannot come first."""
    loads = [view.projected_load_kw for view in serving]
    full = _fitting(serving, loads, amount_kw)
    if full:
        keys = evenness(serving, loads, full, amount_kw, now, tuning, one_request_kw, futures)
        best_at = 0  # the first of the lowest keys, as `min` gives
        for place in range(1, len(keys)):
            if keys[place] < keys[best_at]:
                best_at = place
        return serving[full[best_at]]
    best: SubstationView | None = None
    best_key: tuple[int, float] = (3, 0.0)
    for view, load_kw in zip(serving, loads, strict=True):
        # Curtailed (rank 0, most headroom first), then unknown (1), then full (2).
        headroom = view.headroom_at(load_kw)
        if headroom is not None and headroom >= min_amount_kw:
            key = (0, -headroom)
        elif headroom is None:
            key = (1, view.pending_kw)
        else:
            key = (2, -headroom)
        if best is None or key < best_key:
            best, best_key = view, key
    return best


def _fitting(serving: list[SubstationView], loads: list[float], kw: float) -> list[int]:
    """The places in `serving` of the views that `fits` `kw`, given their projected loads."""
    return [number for number, view in enumerate(serving) if fits_at(view, loads[number], kw)]


def evenness(
    serving: list[SubstationView],
    loads: list[float],
    full: list[int],
    amount_kw: float,
    now: float | None,
    tuning: HeadroomTuning,
    one_request_kw: float = 0.0,
    futures: Futures | None = None,
) -> list[tuple[float, float, int]]:
    """The sort keys of the substations that can take the full amount (their places in
    `serving`; `loads` holds each one's projected load), lowest best: the mean spread over the
    lookahead if booked there (`proxy.outlook.spreads_ahead`) plus the bunching term (only
    with `now` and a choice to make), then the utilization it would have, then its requests
    in flight. With `futures` too, the first is the rollout's cost
    (`proxy.rollout.futures_ahead`) plus `rollout_key_weight` times that."""
    ahead_of = now if len(full) > 1 else None  # a choice to make
    spreads = [0.0] * len(full)
    if ahead_of is not None:
        spreads = spreads_ahead(serving, loads, full, amount_kw, ahead_of, tuning, one_request_kw)
    keys = []
    # Read once: `tuning` is not compiled, so each read is a lookup by name.
    fade_s, recent_weight = tuning.recent_fade_s, tuning.recent_weight
    for place, number in enumerate(full):
        view = serving[number]
        spread_after = spreads[place]
        spread = 0.0
        if ahead_of is not None:
            # What is in flight is booked lately too: its answer (and so its session, which
            # `recent_kw` counts) has not come back yet.
            recent_kw = view.recently_booked_kw(ahead_of, fade_s) + view.in_flight_kw
            bunching = recent_kw / (view.capacity_kw or 1.0)
            spread = spread_after + recent_weight * bunching
        keys.append((spread, view.utilization_at(loads[number], amount_kw), view.in_flight))
    if ahead_of is not None and futures is not None:
        shipped = [key[0] for key in keys]
        costs = futures_ahead(
            serving, loads, full, shipped, amount_kw, ahead_of, tuning, one_request_kw, futures
        )
        if costs is not None:
            weight = tuning.rollout_key_weight
            keys = [
                (cost + weight * key[0], key[1], key[2])
                for cost, key in zip(costs, keys, strict=True)
            ]
    return keys


def last_look(
    views: Sequence[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    now: float,
    exclude: Collection[str],
    asked: Collection[str],
    tuning: HeadroomTuning,
    index: UtilizationIndex | None = None,
    out_of_service: Sequence[SubstationView] = (),
) -> SubstationView | None:
    """When every substation `asked` refused, or none is serving: one more worth asking (not
    in `exclude`: those had their last look), or None. In turn: the best serving one projected
    to have room for the curtailed amount (asked before or not: sessions may have ended
    meanwhile); a recovering one with room (one good check since it was down: up, as far as
    anyone can know); a serving one whose room only requests in flight take (they may yet be
    refused); a serving one not asked yet (other proxies' sessions may have ended there since
    its report; a full one refuses cheaply); a down one that refused connections (asking sends
    nothing unless it is back, so every charge refused elsewhere may probe it). At most
    `last_looks` in all. Among many substations (`index`: the serving ones), the index's best
    for the curtailed amount, then the recovering and down ones as above (`out_of_service`,
    the balancer's list of them: never more than the grid has out at once)."""
    if len(exclude) >= tuning.last_looks:
        return None
    if index is not None:
        return (
            index.best(min_amount_kw, exclude)
            or _recovering_with_room(out_of_service, amount_kw, min_amount_kw, now, exclude, tuning)
            or _worth_a_probe(out_of_service, exclude)
        )
    serving = [view for view in views if view.serving and view.key not in exclude]
    not_asked = [view for view in serving if view.key not in asked]
    return (
        _best_with_room(serving, amount_kw, min_amount_kw, now, tuning)
        or _recovering_with_room(views, amount_kw, min_amount_kw, now, exclude, tuning)
        or _most_room_but_for_flight(serving, min_amount_kw)
        or best_by_headroom(not_asked, amount_kw, min_amount_kw, now, tuning)
        or _worth_a_probe(views, exclude)
    )


def _recovering_with_room(
    views: Sequence[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    now: float,
    exclude: Collection[str],
    tuning: HeadroomTuning,
) -> SubstationView | None:
    recovering = [
        view
        for view in views
        if view.health == "recovering" and view.key not in exclude and not view.draining
    ]
    return _best_with_room(recovering, amount_kw, min_amount_kw, now, tuning)


def _worth_a_probe(
    views: Sequence[SubstationView], exclude: Collection[str]
) -> SubstationView | None:
    """A down substation that refused a connection (`_probe_worthy`), not draining."""
    return next(
        (
            view
            for view in views
            if view.key not in exclude and not view.draining and _probe_worthy(view)
        ),
        None,
    )


def _best_with_room(
    views: list[SubstationView],
    amount_kw: float,
    min_amount_kw: float,
    now: float,
    tuning: HeadroomTuning,
) -> SubstationView | None:
    best = best_by_headroom(views, amount_kw, min_amount_kw, now, tuning)
    return best if best is not None and has_room(best, min_amount_kw) else None


def _most_room_but_for_flight(views: list[SubstationView], kw: float) -> SubstationView | None:
    """The one with the most room for `kw` if every request in flight were refused."""
    best = max(views, key=lambda view: view.headroom_without_flight_kw, default=None)
    return best if best is not None and best.headroom_without_flight_kw >= kw else None


def _probe_worthy(view: SubstationView) -> bool:
    return view.health == "down" and view.unreachable


def _unknown_first_then_most_headroom(view: SubstationView) -> tuple[int, float]:
    headroom = view.projected_headroom_kw
    if headroom is None:
        return (0, view.pending_kw)
    return (1, -headroom)
