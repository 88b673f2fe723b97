"""Shards: which substations a proxy prefers when several share the grid."""

from __future__ import annotations

import random

import pytest

from grid.booked import Booking
from grid.protocol import LoadReport
from proxy.balancer import Balancer
from proxy.headroom import herd_size
from proxy.shard import Shard, balanced_parts, parse_shard, worker_shard
from proxy.tuning import HeadroomTuning

KEYS = [f"http://10.0.0.{n}:8000" for n in range(1, 200)]
# Capacities drawn as a city's are: 200-800 kW.
CAPACITIES_KW = {key: float(random.Random(key).randrange(200, 801)) for key in KEYS}


def test_every_substation_has_exactly_one_owner_and_the_parts_hold_even_capacity() -> None:
    shards = [Shard(number, 8) for number in range(8)]
    parts = [shard.owned(CAPACITIES_KW) for shard in shards]
    for key in KEYS:
        assert sum(key in part for part in parts) == 1
    totals_kw = [sum(CAPACITIES_KW[key] for key in part) for part in parts]
    # Within 2 % of each other (about 12,340 kW each); a hash of the keys (CRC-32 modulo 8)
    # left these 23 % apart (11,032 to 13,564 kW).
    assert max(totals_kw) - min(totals_kw) <= 0.02 * min(totals_kw)


def test_every_proxy_cuts_the_same_parts_from_the_same_capacities() -> None:
    reordered = dict(sorted(CAPACITIES_KW.items(), reverse=True))
    assert Shard(3, 8).owned(reordered) == Shard(3, 8).owned(CAPACITIES_KW)
    assert balanced_parts(reordered, 8) == balanced_parts(CAPACITIES_KW, 8)


def test_workers_that_tell_each_other_share_their_proxys_part() -> None:
    replica = Shard(1, 3)
    assert [worker_shard(replica, number, 2) for number in range(2)] == [replica, replica]
    assert worker_shard(None, 1, 2) == Shard(0, 1)  # a proxy alone: the whole grid
    assert Shard(0, 1).owned(CAPACITIES_KW) == set(KEYS)
    assert worker_shard(replica, 0, 1) == replica


def test_workers_blind_to_each_other_split_their_proxys_part() -> None:
    replica = Shard(1, 3)
    workers = [worker_shard(replica, number, 2, told=False) for number in range(2)]
    assert workers == [Shard(1, 3, 0, 2), Shard(1, 3, 1, 2)]
    owned = [worker.owned(CAPACITIES_KW) for worker in workers if worker is not None]
    assert owned[0] | owned[1] == replica.owned(CAPACITIES_KW)
    assert not owned[0] & owned[1]
    assert worker_shard(None, 1, 2, told=False) == Shard(0, 1, 1, 2)  # each its own half
    assert str(workers[1]) == "1/3 worker 1/2"


def test_a_substation_whose_capacity_is_not_known_is_in_no_part() -> None:
    known = {key: kw for key, kw in CAPACITIES_KW.items() if key != KEYS[0]}
    assert all(KEYS[0] not in Shard(number, 4).owned(known) for number in range(4))


@pytest.mark.parametrize("text", ["3", "3/", "/8", "8/8", "-1/8", "a/b", "1/0"])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_a_proxy_alone_chooses_within_its_part_the_whole_grid() -> None:
    # `--shard 0/1`, or told workers of a proxy without `--shard`: rule 4 over every substation.
    balancer = Balancer(shard=Shard(0, 1), rng=random.Random(5))
    keys = KEYS[:20]
    balancer.set_substations(keys)
    for key in keys:
        balancer.record_report(key, 0.0, 300.0, CAPACITIES_KW[key])
    own_index = balancer.own_index()
    assert own_index is not None
    assert {view.key for view, _ in own_index.indexed_loads()} == set(keys)


def first_of_two_shards() -> tuple[Balancer, list[str], list[str]]:
    """A balancer with shard 0/2 of 40 substations: it, its own and the others'."""
    balancer = Balancer(shard=Shard(0, 2), rng=random.Random(5))
    keys = KEYS[:40]
    balancer.set_substations(keys)
    for key in keys:  # every capacity known (the parts are cut from them), all at 90 %
        balancer.record_report(key, 0.0, 900.0, 1000.0)
    owned = Shard(0, 2).owned(dict.fromkeys(keys, 1000.0))
    own = [key for key in keys if key in owned]
    return balancer, own, [key for key in keys if key not in own]


def test_a_balancer_cuts_its_part_again_when_a_capacity_is_learnt_or_changes() -> None:
    balancer = Balancer(shard=Shard(0, 2), rng=random.Random(5))
    keys = KEYS[:20]
    balancer.set_substations(keys)
    capacities_kw = {key: CAPACITIES_KW[key] for key in keys[1:]}  # the first not heard from

    def indexed() -> set[str]:
        own_index = balancer.own_index()
        assert own_index is not None
        return {view.key for view, _ in own_index.indexed_loads()}

    for key, capacity_kw in capacities_kw.items():
        balancer.record_report(key, 0.0, 0.0, capacity_kw)
    assert indexed() == Shard(0, 2).owned(capacities_kw)
    for key, capacity_kw in ((keys[0], 800.0), (keys[5], 200.0)):  # learnt; reconfigured
        capacities_kw[key] = capacity_kw
        balancer.record_report(key, 1.0, 0.0, capacity_kw)
        assert indexed() == Shard(0, 2).owned(capacities_kw)


def test_a_proxy_prefers_its_own_emptiest_unless_others_are_much_emptier() -> None:
    balancer, own, others = first_of_two_shards()
    for key in own:
        balancer.record_report(key, 0.0, 300.0, 1000.0)  # its own at 30 %
    balancer.record_report(own[0], 0.0, 200.0, 1000.0)  # but one at 20 %
    for key in others:
        balancer.record_report(key, 0.0, 170.0, 1000.0)  # 17 %: within the slack (0.05)
    for _ in range(20):
        assert balancer.choose(10, 10, 1) == [own[0]]  # exactly its own emptiest, every time
    for key in others:
        balancer.record_report(key, 1.0, 50.0, 1000.0)  # 5 %: no one has been sending there
    picks = {balancer.choose(10, 10, 1)[0] for _ in range(20)}
    assert picks <= set(others) and len(picks) > 1  # elsewhere, and not all to one (no herd)


def test_a_proxy_books_elsewhere_only_if_it_stays_emptier_with_a_second_charge_there() -> None:
    # What is emptiest elsewhere is another proxy's own emptiest: it may book it at the same
    # moment, so a charge goes there only if the place would still be emptier after both.
    balancer, own, others = first_of_two_shards()
    for key in own:
        balancer.record_report(key, 0.0, 200.0, 1000.0)  # 20 %: 25 % after 50 kW
    for key in others:
        balancer.record_report(key, 0.0, 120.0, 1000.0)  # 17 % after 50 kW, 22 % after 100 kW
    for _ in range(20):
        assert balancer.choose(50, 50, 1)[0] in own  # 22 % is not 5 points under 25 %
    for key in others:
        balancer.record_report(key, 1.0, 80.0, 1000.0)  # 18 % after 100 kW: 7 points under
    assert {balancer.choose(50, 50, 1)[0] for _ in range(20)} <= set(others)


def test_the_owners_charge_is_taken_as_the_largest_booked_on_the_grid_lately() -> None:
    # The owner's charge may be any the grid books: a 10-kW charge of this proxy goes
    # elsewhere only if that place stays emptier with the largest booked lately (50 kW) too.
    balancer, own, others = first_of_two_shards()
    for key in own:
        balancer.record_report(key, 0.0, 200.0, 1000.0)  # 20 %: 21 % after 10 kW
    for key in others:
        balancer.record_report(key, 0.0, 105.0, 1000.0)  # 12.5 % after 20 kW, 16.5 % after 60
    assert {balancer.choose(10, 10, 1, now=1.0)[0] for _ in range(20)} <= set(others)
    # Another proxy books 50 kW at one of the others' substations; its stream tells at 1 s.
    booked = (Booking(seq=8, ref="p3.0", kw=50.0, ends_at=61.0),)
    balancer.record_stream(others[0], LoadReport("x", 105.0, 1000.0, ("e", 8), booked=booked), 1.0)
    for _ in range(20):
        assert balancer.choose(10, 10, 1, now=2.0)[0] in own  # 16.5 % is not 5 points under 21 %
    # Ten seconds on (`largest_charge_window_s`), it is no longer among those booked lately.
    assert {balancer.choose(10, 10, 1, now=11.5)[0] for _ in range(20)} <= set(others)


def test_of_its_own_emptiest_a_proxy_takes_the_one_least_booked_lately() -> None:
    # Sessions booked together end together: the shard's emptiest does not take every charge.
    balancer, own, _ = first_of_two_shards()
    for key in own:
        balancer.record_report(key, 0.0, 600.0, 1000.0)  # 60 %
    balancer.record_report(own[0], 0.0, 300.0, 1000.0)  # 30 %, but 100 kW booked a moment ago
    balancer.record_booking(own[0], 60.0, 100.0, 0.0)
    balancer.record_report(own[1], 0.0, 305.0, 1000.0)  # 30.5 %, nothing booked lately
    assert balancer.choose(10, 10, 1, now=0.5) == [own[1]]
    assert balancer.choose(10, 10, 1) == [own[0]]  # without a time, the lowest after booking
    balancer.record_report(own[1], 1.0, 400.0, 1000.0)  # 40 %: no longer among the near-equal
    assert balancer.choose(10, 10, 1, now=1.0) == [own[0]]


def test_a_part_of_fewer_than_own_part_min_substations_is_no_part() -> None:
    """12 substations over 8 proxies: parts of 1 or 2, of capacities far apart. A proxy then
    books the grid's exact best, even where its own part would be kept within the slack."""

    def choices(tuning: HeadroomTuning) -> tuple[set[str], set[str], str]:
        balancer = Balancer(shard=Shard(0, 8), rng=random.Random(5), tuning=tuning)
        keys = KEYS[:12]
        balancer.set_substations(keys)
        for key in keys:
            balancer.record_report(key, 0.0, 500.0, 1000.0)  # all at 50 %
        own_index = balancer.own_index()
        assert own_index is not None
        owned = {view.key for view, _ in own_index.indexed_loads()}
        emptiest = next(key for key in keys if key not in owned)
        balancer.record_report(emptiest, 1.0, 470.0, 1000.0)  # another's, 3 % emptier
        picks = {balancer.choose(10, 10, 1, now=1.0)[0] for _ in range(20)}
        return picks, owned, emptiest

    picks, owned, emptiest = choices(HeadroomTuning())
    assert 0 < len(owned) < HeadroomTuning().own_part_min
    assert picks == {emptiest}
    picks, owned, _ = choices(HeadroomTuning(own_part_min=1))  # as before: its own part
    assert picks <= owned


def test_herd_size_is_herd_choices_but_never_more_than_an_eighth_of_the_grid() -> None:
    tuning = HeadroomTuning()
    assert [herd_size(n, tuning) for n in (9, 12, 16, 24, 100, 128, 1000)] == [
        1,
        1,
        2,
        3,
        12,
        16,
        16,
    ]
