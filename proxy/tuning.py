"""The `headroom` policy's tuning: one frozen value, the defaults measured in the simulator.

Its own module, apart from the rules that read it (`proxy.headroom`), because it travels: the
simulator sends it to the process that runs each policy, and the compiled build of the
balancing core (`setup.py`) cannot pickle its own frozen classes. Plain data, no logic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeadroomTuning:
    # How far ahead the evenness of the grid is judged (`proxy.outlook` has why 5 s); 0 judges
    # only the present spread.
    lookahead_s: float = 5.0
    # Sessions booked together end together: each kW booked at a substation lately counts
    # against it as this much of a kW of spread, so that the bookings of a busy minute, and
    # their ends a session later, do not bunch on one substation.
    recent_weight: float = 0.4
    # How fast a booking stops counting as recent: its weight is e^(-age / recent_fade_s).
    recent_fade_s: float = 10.0
    # The outlook (`proxy.outlook`) weighs the part of a spread over one request this many
    # times more: the balance is judged by the seconds over it. One request is the largest
    # charge booked in the last `one_request_window_s` (or this one, if larger) over the
    # smallest capacity. 0: the plain mean spread, as before 2026-12-06 (the unseen kind of
    # `proxy.simulate.sweep --overlapping`, 40 draws: spread_p95 a mean 1.67 times one request
    # so, 1.41 with 2; docs/balance-lab.md).
    over_weight: float = 2.0
    one_request_window_s: float = 60.0
    # Above this many substations, choose from the utilization index (`proxy.headroom.rank`).
    full_scan_limit: int = 8
    # Anti-herding above `full_scan_limit`: pick at random among this many substations with
    # the lowest utilization after booking. Proxies that share a view would otherwise all book
    # the same emptiest substation in the moment before the stream tells each of the others'.
    herd_choices: int = 16
    # ... and never more than one in this many of the substations indexed (`headroom.herd_size`):
    # among a grid's every substation, a random pick ignores how full each is.
    herd_share: int = 8
    # With a shard (`proxy.shard`), the lowest utilization after booking among the proxy's own
    # substations, unless the index's pick anywhere (`proxy.headroom.rank`, rule 3) would be
    # lower by more than this even with its owner's charge booked there at the same moment:
    # then that one (how the substations no proxy is sending to at the moment get filled).
    shard_slack: float = 0.05
    # The owner's charge is taken as the largest booked on the grid in this long (heard on the
    # load streams, `proxy.largest`), or as this one if larger: the owner's may be any of them.
    # 0: as this one alone, the rule before 2026-12-05 (city-failures seed 1: 0.2576 so,
    # 0.2459 with 10 s).
    largest_charge_window_s: float = 10.0
    # Rule 4 (`proxy.headroom.rank`) takes, of the `own_choices` substations of its shard
    # lowest after booking, the one least booked lately: each kW booked there in the last few
    # `recent_fade_s` counts as `own_recent_weight` kW more of utilization. Sessions booked
    # together end together: the shard's single emptiest substation would otherwise take every
    # charge of its moment, and lose them all at once a session later. The weight as the
    # outlook's `recent_weight`: 0.3-0.6 alike on city-scale since the parts are cut by
    # capacity, 0.1 when they were not (docs/balance-lab.md). Rule 3 does the same over the
    # whole index when it has no herd to break (9-15 substations): dozen-substations, seeds
    # 0-15, spread_p95 0.078-0.090 so, 0.092-0.118 with the lowest alone.
    own_choices: int = 4
    # A part of fewer substations is no part: rule 4 is left out (12 substations over 8
    # proxies make parts of 1 or 2, whose capacities differ by half; dozen-substations,
    # seeds 0-7: spread_p95 0.110-0.115 with them, 0.094-0.110 without).
    own_part_min: int = 8
    own_recent_weight: float = 0.4
    # At most this many last looks for one charge: among thousands of substations seen a poll
    # late, each refusal corrects only the one asked.
    last_looks: int = 8
    # A refusal that says its substation has room within this long (`X-Substation-Room-In`:
    # one of its sessions ends) is asked once more then, instead of a 503 to the driver; at
    # most `room_looks` times, all within this long of the first (`proxy.attempt`).
    room_wait_s: float = 0.25
    room_looks: int = 3
    # Rule 2's sampled futures (`proxy.rollout`), off at 0: each substation that can take the
    # charge is judged by the seconds over one request of `rollout_draws` sampled streams of
    # the next `rollout_horizon_s` of arrivals (drawn at the rate and sizes the grid booked in
    # the last `rollout_window_s`), plus `rollout_key_weight` times its outlook and bunching
    # key. Off because one choice costs milliseconds (docs/balance-lab.md, "Sampled futures").
    rollout_draws: int = 0
    rollout_horizon_s: float = 75.0
    rollout_window_s: float = 20.0
    rollout_key_weight: float = 30.0
    # Only the places whose outlook and bunching key is within this of the lowest are played;
    # the others rank after them. Every place by default: 0.03-0.3 saved little time and
    # gave up some of the gain (docs/balance-lab.md).
    rollout_band: float = 1e9
    # Raced: the draws come `rollout_batch` at a time, and a place clearly worse than the best
    # so far (by `rollout_race_z` standard errors) plays no more; 0, every place plays them all.
    rollout_batch: int = 0
    rollout_race_z: float = 2.0


DEFAULT_TUNING = HeadroomTuning()
