"""The baseline policies, kept to be measured against `headroom` (SPEC section 2): each orders
the serving substations by one number or by turns, as the seed project and HAProxy do.

Pure, as the balancer that calls them (`proxy.balancer`): the views, the turn and the random
source come in, an order goes out; nothing is changed, no clock is read.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from proxy.view import SubstationView


def rank_baseline(
    policy: str, serving: list[SubstationView], attempts: int, turn: int, rng: random.Random
) -> list[SubstationView]:
    """The order of `policy` (any but `headroom`); for one attempt, only its head. `turn`
    counts the balancer's choices, for the policies that take turns."""
    if policy == "random":
        if attempts == 1 and serving:
            return [rng.choice(serving)]
        return rng.sample(serving, len(serving))
    if policy == "round-robin":
        start = turn % max(1, len(serving))
        return serving[start:] + serving[:start]
    if policy == "least-loaded":
        # The seed's rule: the lowest polled load, first listed on a tie.
        return _lowest(serving, lambda view: view.polled_load_kw, attempts)
    # least-connections, ties taken in turn as HAProxy's leastconn does.
    start = turn % max(1, len(serving))
    rotated = serving[start:] + serving[:start]
    return _lowest(rotated, lambda view: view.in_flight, attempts)


def _lowest(
    views: list[SubstationView], key: Callable[[SubstationView], float], count: int
) -> list[SubstationView]:
    """`sorted(views, key=key)[:count]`; min() (the first lowest, as a stable sort's head) for
    one, which is what the charge path asks for: O(n), not O(n log n), at 3,000 substations."""
    if count == 1 and views:
        return [min(views, key=key)]
    return sorted(views, key=key)[:count]
