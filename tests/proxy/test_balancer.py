"""The balancer as a plain object: projected utilization, pending kW, health, policies."""

from __future__ import annotations

import random

import pytest

from grid.booked import Booking
from grid.protocol import LoadReport
from proxy.balancer import POLICIES, Balancer, Policy
from proxy.tuning import DEFAULT_TUNING

T0 = 1_800_000_000.0


def grid(capacities_kw: list[float], policy: Policy = "headroom", seed: int = 1) -> Balancer:
    balancer = Balancer(policy=policy, rng=random.Random(seed))
    balancer.set_substations(f"s{n}" for n in range(len(capacities_kw)))
    for n, capacity_kw in enumerate(capacities_kw):
        balancer.record_poll(f"s{n}", T0, load_kw=0.0, capacity_kw=capacity_kw, draining=False)
    return balancer


def test_headroom_picks_the_lowest_projected_utilization() -> None:
    balancer = grid([400, 200])
    balancer.record_report("s0", T0 + 1, load_kw=200, capacity_kw=400)  # 50 %
    balancer.record_report("s1", T0 + 1, load_kw=80, capacity_kw=200)  # 40 %
    assert balancer.choose(10, 10, attempts=3) == ["s1", "s0"]


def test_pending_kw_spreads_a_burst_before_any_answer() -> None:
    balancer = grid([500, 500, 500])
    rng = random.Random(7)
    booked = {"s0": 0.0, "s1": 0.0, "s2": 0.0}
    for _ in range(100):
        amount_kw = rng.uniform(5, 20)
        chosen = balancer.choose(amount_kw, amount_kw, attempts=1)[0]
        balancer.begin(chosen, amount_kw)
        booked[chosen] += amount_kw
    assert max(booked.values()) - min(booked.values()) <= 20
    assert sum(view.in_flight for view in balancer.views()) == 100


def test_pending_returns_to_zero_when_requests_finish() -> None:
    balancer = grid([100])
    for _ in range(3):
        balancer.begin("s0", 7.4)
    for _ in range(3):
        balancer.end("s0", 7.4)
    view = balancer.view("s0")
    assert (view.in_flight, view.pending_kw) == (0, 0.0)


def test_a_request_that_books_nothing_is_in_flight_without_load() -> None:
    """A vehicle's repeated charge (its session is there already) is a request in flight and
    watts asked, which the substation's sums count too, but no load; ending it leaves the
    others' pending kW as they were."""
    balancer = grid([100])
    balancer.begin("s0", 20.0)
    balancer.begin("s0", 11.0, books=False)
    view = balancer.view("s0")
    assert (view.in_flight, view.pending_kw, view.sent_w) == (2, 20.0, 31_000)
    assert view.projected_load_kw == 20.0
    balancer.end("s0", 11.0, books=False)
    assert (view.in_flight, view.pending_kw) == (1, 20.0)
    balancer.end("s0", 20.0)
    assert (view.in_flight, view.pending_kw) == (0, 0.0)


def test_newer_report_wins_and_older_is_ignored() -> None:
    balancer = grid([100])
    balancer.record_report("s0", T0 + 10, load_kw=60, capacity_kw=100)
    balancer.record_poll("s0", T0 + 5, load_kw=20, capacity_kw=100, draining=False)
    view = balancer.view("s0")
    assert view.load_kw == 60
    assert view.polled_load_kw == 20  # least-loaded still sees its poll


def test_down_and_draining_substations_are_skipped() -> None:
    balancer = grid([100, 100, 100])
    balancer.record_health("s0", "refused")
    balancer.record_poll("s1", T0 + 1, load_kw=0, capacity_kw=100, draining=True)
    assert balancer.choose(10, 10, attempts=3) == ["s2"]


def test_full_substations_come_last_and_curtailment_takes_the_largest_headroom() -> None:
    balancer = grid([100, 100, 100])
    balancer.record_report("s0", T0 + 1, load_kw=100, capacity_kw=100)  # full
    balancer.record_report("s1", T0 + 1, load_kw=90, capacity_kw=100)  # 10 kW free
    balancer.record_report("s2", T0 + 1, load_kw=85, capacity_kw=100)  # 15 kW free
    assert balancer.choose(22, 7, attempts=3) == ["s2", "s1", "s0"]
    # Any substation that gives the full amount beats the largest curtailed headroom.
    balancer.record_report("s0", T0 + 2, load_kw=70, capacity_kw=100)
    assert balancer.choose(22, 7, attempts=1) == ["s0"]


def test_unknown_capacity_is_asked_before_a_full_substation() -> None:
    balancer = Balancer()
    balancer.set_substations(["known", "new"])
    balancer.record_poll("known", T0, load_kw=100, capacity_kw=100, draining=False)
    assert balancer.choose(10, 10, attempts=2) == ["new", "known"]


def test_attempts_bound_the_candidates() -> None:
    assert len(grid([100] * 5).choose(10, 10, attempts=3)) == 3


def test_set_substations_keeps_what_it_knew_of_kept_ones() -> None:
    balancer = grid([100, 200])
    balancer.begin("s1", 10)
    balancer.set_substations(["s1", "s9"])
    assert [view.key for view in balancer.views()] == ["s1", "s9"]
    assert balancer.view("s1").pending_kw == 10


def spread_after_filling(policy: Policy, count: int, requests_each: int) -> float:
    balancer = grid([500] * count, policy=policy)
    for _ in range(count * requests_each):
        balancer.begin(balancer.choose(10, 10, attempts=1)[0], 10)
    loads = [view.pending_kw for view in balancer.views()]
    return max(loads) - min(loads)


def test_two_choices_at_scale_keeps_the_gap_to_a_few_requests() -> None:
    count = 300
    assert count > DEFAULT_TUNING.full_scan_limit
    # Power of two choices keeps the gap near log2(log(n)) requests; random grows with sqrt.
    two_choices = spread_after_filling("headroom", count, requests_each=20)
    assert two_choices <= 60
    assert spread_after_filling("random", count, requests_each=20) > 2 * two_choices


def test_least_loaded_is_the_seeds_pile_up() -> None:
    balancer = grid([500, 500, 500], policy="least-loaded")
    chosen = set()
    for _ in range(100):
        key = balancer.choose(10, 10, attempts=1)[0]
        balancer.begin(key, 10)
        chosen.add(key)
    assert chosen == {"s0"}  # blind to what is in flight, as the seed was


def test_round_robin_takes_turns() -> None:
    balancer = grid([100, 100, 100], policy="round-robin")
    firsts = [balancer.choose(10, 10, attempts=1)[0] for _ in range(6)]
    assert sorted(firsts) == ["s0", "s0", "s1", "s1", "s2", "s2"]


def test_least_connections_follows_in_flight_counts() -> None:
    balancer = grid([100, 100, 100], policy="least-connections")
    balancer.begin("s0", 1)
    balancer.begin("s1", 1)
    assert balancer.choose(10, 10, attempts=1) == ["s2"]


@pytest.mark.parametrize("policy", POLICIES)
def test_no_policy_chooses_a_down_substation(policy: Policy) -> None:
    balancer = grid([100, 100], policy=policy)
    balancer.record_health("s0", "refused")
    for _ in range(10):
        assert "s0" not in balancer.choose(10, 10, attempts=2)


def test_a_session_ending_during_a_round_trip_counts_as_ended_after_its_report() -> None:
    balancer = grid([100])
    balancer.record_report("s0", T0, load_kw=90, capacity_kw=100)
    balancer.record_booking("s0", T0 + 10.005, 30, T0 - 49.995)
    # Refused: a request sent at T0 + 10.000 comes back at 10.010 saying 90 kW, measured
    # before or after the session's end at 10.005; the proxy cannot tell, so it takes it as
    # before, and counts the session as ended: room is shown, and the substation decides.
    balancer.record_report("s0", T0 + 10.010, load_kw=90, capacity_kw=100, sent_at=T0 + 10.0)
    assert balancer.room_for(30, 30, now=T0 + 10.010) == "s0"
    # A later report (sent after the end) includes the end: nothing is taken off twice.
    balancer.record_report("s0", T0 + 10.03, load_kw=60, capacity_kw=100, sent_at=T0 + 10.02)
    assert balancer.view("s0").projected_load_kw == 60
    assert balancer.room_for(41, 41, now=T0 + 10.03, asked=["s0"]) is None


def test_last_look_takes_a_recovering_substation_only_when_no_serving_one_has_room() -> None:
    balancer = grid([100, 100])
    balancer.record_health("s1", "refused")  # down
    balancer.record_poll("s1", T0 + 1, load_kw=0, capacity_kw=100, draining=False)
    assert balancer.view("s1").health == "recovering"
    assert balancer.choose(30, 30, attempts=2, now=T0 + 2) == ["s0"]  # never in the ranking
    assert balancer.room_for(30, 30, now=T0 + 2) == "s0"
    balancer.record_report("s0", T0 + 2, load_kw=90, capacity_kw=100)
    assert balancer.room_for(30, 20, now=T0 + 3) == "s1"
    balancer.record_health("s1", "timed_out")  # down again, and slow: not worth a probe
    assert balancer.room_for(30, 20, now=T0 + 3, asked=["s0"]) is None


def test_last_looks_go_where_requests_in_flight_or_an_old_report_may_hide_room() -> None:
    balancer = grid([100, 100, 100])
    balancer.record_report("s0", T0 + 1, load_kw=90, capacity_kw=100)
    balancer.record_report("s1", T0 + 1, load_kw=60, capacity_kw=100)
    balancer.record_report("s2", T0 + 1, load_kw=95, capacity_kw=100)
    balancer.begin("s1", 30)  # 60 + 30 in flight: no room for 20 unless that one is refused
    assert balancer.room_for(20, 20, now=T0 + 2, asked=["s0", "s1", "s2"]) == "s1"
    # Asked everywhere but s2, which shows no room: other proxies' sessions may have ended.
    assert balancer.room_for(20, 20, now=T0 + 2, exclude=["s1"], asked=["s0", "s1"]) == "s2"
    assert balancer.room_for(20, 20, now=T0 + 2, exclude=["s1", "s2"], asked=["s0"]) is None


def test_last_looks_are_bounded_among_many_substations_seen_a_poll_late() -> None:
    balancer = grid([100] * 1000)  # every view shows room: the others may have filled them
    looked: set[str] = set()
    while (key := balancer.room_for(20, 20, now=T0 + 1, exclude=looked)) is not None:
        looked.add(key)
    assert len(looked) == DEFAULT_TUNING.last_looks


def test_a_substation_that_refused_connections_is_probed_by_every_charge_refused_elsewhere() -> (
    None
):
    """A probe of a substation that refused connections sends nothing unless it is back; if it
    is, every charge refused elsewhere has room there, not only the first to probe (the
    simulator's `substation-failure`, seed 29, turned a driver away so while north was back)."""
    balancer = grid([100, 100])
    balancer.record_report("s0", T0 + 1, load_kw=100, capacity_kw=100)
    balancer.record_health("s1", "refused")
    assert balancer.choose(20, 20, attempts=2, now=T0 + 2) == ["s0"]  # never in the ranking
    assert balancer.room_for(20, 20, now=T0 + 2, asked=["s0"]) == "s1"
    balancer.begin("s1", 20)  # one probe on its way: another charge probes too
    assert balancer.room_for(20, 20, now=T0 + 2, asked=["s0"]) == "s1"
    balancer.end("s1", 20)
    balancer.record_health("s1", "answered")
    assert balancer.view("s1").health == "recovering"
    assert not balancer.view("s1").unreachable


def test_among_many_the_last_looks_also_take_a_recovering_or_refusing_substation() -> None:
    """Above `full_scan_limit` the last looks read the index, which holds serving substations
    only; the recovering and the down ones are looked at as among a few. (Past saturation, a
    grid of 12 turned drivers away for a second while a substation that had just come back
    stood empty: sweep-153 of `python -m proxy.simulate.sweep`.)"""
    balancer = grid([100] * 12)
    for n in range(11):
        balancer.record_report(f"s{n}", T0 + 1, load_kw=100, capacity_kw=100)
    balancer.record_health("s11", "refused")  # down, and it refused a connection
    assert balancer.room_for(20, 10, now=T0 + 2) == "s11"  # a probe sends nothing unless back
    balancer.record_stream("s11", LoadReport("s11", 0.0, 100.0), T0 + 2)
    assert balancer.view("s11").health == "recovering"
    assert balancer.choose(20, 10, attempts=1, now=T0 + 3) != ["s11"]  # never in the ranking
    assert balancer.room_for(20, 10, now=T0 + 3) == "s11"
    assert balancer.room_for(20, 10, now=T0 + 3, exclude=["s11"]) is None
    balancer.record_health("s11", "timed_out")  # down again, and slow: not worth a probe
    assert balancer.room_for(20, 10, now=T0 + 3) is None


def test_headroom_does_not_bunch_the_bookings_of_a_moment_on_one_substation() -> None:
    """Two equal substations, s0 1 kW emptier, but it took 40 kW a second ago. Sessions booked
    together end together, so the next charge goes to s1; a minute later, to s0 again."""
    balancer = grid([400, 400])
    balancer.record_booking("s0", T0 + 59, 40, T0 - 1)
    for now in (T0, T0 + 61):
        balancer.record_report("s0", now, load_kw=99, capacity_kw=400)
        balancer.record_report("s1", now, load_kw=100, capacity_kw=400)
    assert balancer.choose(10, 10, attempts=1, now=T0 + 61) == ["s0"]
    balancer.record_booking("s0", T0 + 120, 40, T0 + 60)
    assert balancer.choose(10, 10, attempts=1, now=T0 + 61) == ["s1"]


def test_among_a_dozen_the_index_also_passes_over_a_substation_booked_a_moment_ago() -> None:
    """Above `full_scan_limit`, with no herd to break (12 substations), rule 3 takes the least
    bunched of the `own_choices` lowest, as rule 4 does in a shard: s0 is the emptiest, but it
    took 40 kW a second ago; a minute on, those have ended and it is the emptiest again. When
    the next three lowest are as bunched, the lowest of them is taken again."""
    loads_kw = [99.0] + [100.0 + n for n in range(1, 12)]
    balancer = grid([400.0] * 12)
    balancer.record_booking("s0", T0 + 59, 40, T0 - 1)
    for now in (T0, T0 + 61):
        for n, load_kw in enumerate(loads_kw):
            balancer.record_report(f"s{n}", now, load_kw=load_kw, capacity_kw=400)
    assert balancer.choose(10, 10, attempts=1, now=T0 + 61) == ["s0"]
    balancer.record_booking("s0", T0 + 120, 40, T0 + 60)
    assert balancer.choose(10, 10, attempts=1, now=T0 + 61) == ["s1"]
    balancer.record_booking("s1", T0 + 120, 40, T0 + 60)
    balancer.record_booking("s2", T0 + 120, 40, T0 + 60)
    balancer.record_booking("s3", T0 + 120, 40, T0 + 60)
    assert balancer.choose(10, 10, attempts=1, now=T0 + 61) == ["s0"]  # all four as bunched


def test_kw_in_flight_count_as_booked_lately_so_an_answer_coming_back_tips_nothing() -> None:
    """s0 took 100 kW a moment ago and its answer is back; s1 was asked for 100 kW and its
    answer is not. Both are as full and as bunched: the tie goes to the one with nothing in
    flight. (When only answered bookings counted as recent, s1 looked unbunched and got
    everything while its answers were on their way: through two workers, one of them
    sending a burst, the bunching of a substation then hung on whose answers came first.)"""
    balancer = grid([500, 500])
    balancer.record_report("s0", T0 + 1, load_kw=100, capacity_kw=500, sent_at=T0 + 0.9)
    balancer.record_booking("s0", T0 + 61, 100, T0 + 1)
    balancer.begin("s1", 100)
    assert balancer.choose(10, 10, attempts=1, now=T0 + 1) == ["s0"]


def test_settle_takes_off_only_the_bookings_that_ended_and_choosing_changes_no_view() -> None:
    balancer = grid([100, 100])
    for key in ("s0", "s1"):
        balancer.record_report(key, T0, 50.0, 100.0)
    balancer.record_booking("s0", T0 + 5, 30.0, T0)
    balancer.record_booking("s1", T0 + 20, 30.0, T0)
    balancer.settle(T0 + 10)
    assert [view.projected_load_kw for view in balancer.views()] == [20.0, 50.0]
    before = [(view.projected_load_kw, len(view.bookings)) for view in balancer.views()]
    assert balancer.choose(10, 10, attempts=2, now=T0 + 10) == ["s0", "s1"]
    assert [(view.projected_load_kw, len(view.bookings)) for view in balancer.views()] == before


def test_a_streamed_report_is_taken_by_its_sequence_and_a_dropped_stream_takes_it_out() -> None:
    balancer = grid([100, 100])
    balancer.record_stream("s0", LoadReport("north", 40.0, 100.0, ("e", 5), True), T0)
    view = balancer.view("s0")
    assert (view.name, view.load_kw, view.draining, view.streaming) == ("north", 40, True, True)
    balancer.record_stream("s0", LoadReport("north", 10.0, 100.0, ("e", 4)), T0 + 1)
    assert view.load_kw == 40  # measured before the one taken
    balancer.record_health("s0", "timed_out")
    balancer.record_stream("s0", LoadReport("north", 40.0, 100.0, ("e", 6)), T0 + 2)
    assert view.health == "suspect"  # a report says the process is up, not that it is quick
    balancer.record_stream_dropped("s0")
    assert (view.health, view.streaming, view.unreachable) == ("down", False, True)
    balancer.record_stream_dropped("s1")  # never streamed: nothing to take out
    assert balancer.view("s1").health == "healthy"


def test_the_streams_bookings_of_other_proxies_count_once_as_its_own_do() -> None:
    """Another proxy's session booked at s0 ends within the lookahead and was booked lately,
    as this proxy's own would; a line heard again, or this proxy's own bookings (and its
    sibling workers'), add nothing; a new ledger's bookings are taken from its start."""
    balancer = Balancer(rng=random.Random(1), ref="aa11.0")
    balancer.set_substations(["s0", "s1"])
    booked = (
        Booking(3, "bb22.0", 30.0, T0 + 4),  # another proxy's
        Booking(4, "aa11.1", 20.0, T0 + 4),  # this proxy's second worker's
        Booking(5, "", 10.0, T0 + 50),  # a client that named no proxy
    )
    for heard in range(2):
        balancer.record_stream("s0", LoadReport("north", 60.0, 100.0, ("e", 5), booked=booked), T0)
        view = balancer.view("s0")
        assert list(view.bookings) == [(T0 + 4, 30.0), (T0 + 50, 10.0)], heard
        assert view.recently_booked_kw(T0, 10.0) == 40.0
    balancer.settle(T0 + 5)
    assert view.projected_load_kw == 30.0  # the other proxy's session ended since the report
    restarted = (Booking(1, "bb22.0", 5.0, T0 + 60),)
    balancer.record_stream(
        "s0", LoadReport("north", 35.0, 100.0, ("f", 1), booked=restarted), T0 + 5
    )
    assert list(view.bookings) == [(T0 + 50, 10.0), (T0 + 60, 5.0)]
    baseline = Balancer(policy="least-loaded", ref="aa11.0")  # reads no book: takes none
    baseline.set_substations(["s0"])
    baseline.record_stream("s0", LoadReport("north", 60.0, 100.0, ("e", 5), booked=booked), T0)
    assert not baseline.view("s0").bookings


def test_a_proxy_that_books_nothing_settles_the_streams_bookings_as_they_end() -> None:
    """Left idle while others book, a proxy takes every booking the stream tells of; each end
    comes off as the next lines arrive, not all at once at its next charge (white box: the
    ends still to settle)."""
    balancer = Balancer(rng=random.Random(1), ref="aa11.0")
    balancer.set_substations(["s0"])
    for line in range(1, 1001):  # 100 s of lines 0.1 s apart, each with a 2-second session
        now = T0 + line * 0.1
        booked = (Booking(line, "bb22.0", 11.0, now + 2.0),)
        balancer.record_stream(
            "s0", LoadReport("north", 220.0, 1e6, ("e", line), booked=booked), now
        )
    pending = sum(len(keys) for keys in balancer._ending_at.values())
    assert pending <= 21  # the 2 s of sessions still charging, not 1,000
