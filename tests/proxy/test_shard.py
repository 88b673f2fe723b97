"""Shards: which substations a proxy prefers when several share the grid."""

from __future__ import annotations

import pytest

from proxy.balancer import Balancer
from proxy.shard import Shard, parse_shard, worker_shard

KEYS = [f"http://10.0.0.{n}:8000" for n in range(1, 200)]


def test_every_substation_has_exactly_one_owner() -> None:
    shards = [Shard(number, 8) for number in range(8)]
    for key in KEYS:
        assert sum(shard.owns(key) for shard in shards) == 1
    shares = [sum(shard.owns(key) for key in KEYS) for shard in shards]
    assert min(shares) >= 10  # about 25 each: no shard is left without substations


def test_workers_split_their_proxys_shard() -> None:
    replica = Shard(1, 3)
    workers = [worker_shard(replica, number, 2) for number in range(2)]
    assert workers == [Shard(1, 6), Shard(4, 6)]
    for key in KEYS:
        owners = [w for w in workers if w is not None and w.owns(key)]
        assert len(owners) == (1 if replica.owns(key) else 0)
    assert worker_shard(None, 1, 2) == Shard(1, 2)  # workers alone: each its own half
    assert worker_shard(replica, 0, 1) == replica


@pytest.mark.parametrize("text", ["3", "3/", "/8", "8/8", "-1/8", "a/b", "1/0"])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_a_proxy_prefers_its_own_emptiest_unless_another_is_much_emptier() -> None:
    balancer = Balancer(shard=Shard(0, 2))
    keys = KEYS[:20]
    balancer.set_substations(keys)
    own = [key for key in keys if Shard(0, 2).owns(key)]
    other = [key for key in keys if not Shard(0, 2).owns(key)]
    for key in keys:
        balancer.record_report(key, 0.0, 300.0, 1000.0)  # 30 % everywhere
    balancer.record_report(own[0], 0.0, 200.0, 1000.0)  # its own emptiest: 20 %
    balancer.record_report(other[0], 0.0, 170.0, 1000.0)  # 17 %: within the slack (0.05)
    assert balancer.choose(10, 10, 1) == [own[0]]
    balancer.record_report(other[0], 0.0, 100.0, 1000.0)  # 10 %: far emptier, no one fills it
    assert balancer.choose(10, 10, 1) == [other[0]]
