"""The session ledger, driven directly with injected time: no sockets, no sleeping."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.errors import NoCapacity, UnknownSession
from grid.ledger import SessionLedger
from grid.protocol import ChargeRequest

T0 = 1_800_000_000.0


def ledger(capacity_kw: float = 100.0, session_seconds: float = 60.0) -> SessionLedger:
    counter = itertools.count(1)
    return SessionLedger("north", capacity_kw, session_seconds, lambda: f"s{next(counter)}")


def charge(vehicle_id: str, amount_kw: float, min_amount_kw: float | None = None) -> ChargeRequest:
    return ChargeRequest(
        vehicle_id, amount_kw, amount_kw if min_amount_kw is None else min_amount_kw
    )


def test_ledger_grants_the_full_amount_when_it_fits() -> None:
    north = ledger()
    admission = north.admit(charge("EV-1", 40), T0)
    assert admission.created
    assert admission.session.granted_kw == 40
    assert admission.session.ends_at == T0 + 60
    assert north.load_kw == 40
    assert north.outcomes["accepted"] == 1


def test_ledger_curtails_to_the_headroom_when_min_amount_allows() -> None:
    north = ledger()
    north.admit(charge("EV-1", 90), T0)
    session = north.admit(charge("EV-2", 22, min_amount_kw=7), T0).session
    assert session.granted_kw == 10
    assert session.curtailed
    assert north.load_kw == 100
    assert north.outcomes["curtailed"] == 1


def test_ledger_refuses_when_full_and_says_when_power_frees() -> None:
    north = ledger()
    north.admit(charge("EV-1", 60), T0)
    north.admit(charge("EV-2", 30), T0 + 10)
    with pytest.raises(NoCapacity) as refusal:
        north.admit(charge("EV-3", 20), T0 + 15)
    # 10 kW free now; EV-1's 60 kW free at T0 + 60, 45 s from now.
    assert refusal.value.retry_after_s == 45
    assert refusal.value.headroom_kw == 10
    assert north.load_kw == 90
    assert north.outcomes["rejected"] == 1


def test_ledger_a_stopped_session_no_longer_counts_for_expiry_or_retry_after() -> None:
    north = ledger()
    first = north.admit(charge("EV-1", 60), T0).session
    north.stop(first.session_id, T0 + 5)
    north.admit(charge("EV-2", 30), T0 + 10)
    north.admit(charge("EV-3", 60), T0 + 12)
    assert north.next_expiry_at() == T0 + 70  # EV-2's, not the stopped EV-1's T0 + 60
    with pytest.raises(NoCapacity) as refusal:
        north.admit(charge("EV-4", 20), T0 + 15)
    assert refusal.value.retry_after_s == 55  # when EV-2's 30 kW free
    assert north.expire(T0 + 60) == []
    assert [session.vehicle_id for session in north.expire(T0 + 70)] == ["EV-2"]
    assert north.load_kw == 60


def test_ledger_refusal_waits_at_least_one_second() -> None:
    north = ledger()
    north.admit(charge("EV-1", 100), T0)
    with pytest.raises(NoCapacity) as refusal:
        north.admit(charge("EV-2", 5), T0 + 59.99)
    assert refusal.value.retry_after_s == 1
    # Retry-After can only say 1; the refusal says 10 ms to the millisecond, header and body.
    assert refusal.value.room_in_s == 0.01
    assert refusal.value.headers()["X-Substation-Room-In"] == "0.010"
    assert refusal.value.to_body()["room_in_s"] == 0.01


def test_ledger_refuses_more_than_its_capacity_outright() -> None:
    with pytest.raises(NoCapacity) as refusal:
        ledger(capacity_kw=50).admit(charge("EV-1", 80), T0)
    assert "capacity" in refusal.value.detail
    assert refusal.value.room_in_s is None  # no end of a session makes room for it
    assert "X-Substation-Room-In" not in refusal.value.headers()


def test_ledger_gives_a_vehicle_its_session_back_instead_of_a_second_one() -> None:
    north = ledger()
    first = north.admit(charge("EV-1", 11), T0).session
    again = north.admit(charge("EV-1", 50), T0 + 5)
    assert not again.created
    assert again.session == first
    assert north.load_kw == 11
    assert north.active_sessions == 1


def test_ledger_stop_frees_the_power_at_once() -> None:
    north = ledger()
    session = north.admit(charge("EV-1", 100), T0).session
    assert north.stop(session.session_id, T0 + 1) == session
    assert north.load_kw == 0
    assert north.admit(charge("EV-2", 100), T0 + 1).created
    assert north.outcomes["stopped"] == 1


def test_ledger_stop_of_an_unknown_session_changes_nothing() -> None:
    north = ledger()
    north.admit(charge("EV-1", 10), T0)
    with pytest.raises(UnknownSession):
        north.stop("nope", T0)
    assert north.load_kw == 10


def test_ledger_expires_sessions_at_their_end_time() -> None:
    north = ledger()
    first = north.admit(charge("EV-1", 10), T0).session
    north.admit(charge("EV-2", 20), T0 + 30)
    assert north.expire(T0 + 59.9) == []
    assert north.expire(T0 + 60) == [first]
    assert north.load_kw == 20
    assert north.next_expiry_at() == T0 + 90
    assert north.outcomes["expired"] == 1
    with pytest.raises(UnknownSession):
        north.get(first.session_id, T0 + 60)


def test_ledger_lets_a_vehicle_charge_again_after_its_session_ended() -> None:
    north = ledger()
    north.admit(charge("EV-1", 10), T0)
    again = north.admit(charge("EV-1", 10), T0 + 61)
    assert again.created


def test_ledger_never_lets_time_run_backwards() -> None:
    north = ledger()
    north.admit(charge("EV-1", 10), T0 + 100)
    late = north.admit(charge("EV-2", 10), T0).session  # a clock step back
    assert late.started_at == T0 + 100
    assert [s.vehicle_id for s in north.expire(T0 + 160)] == ["EV-1", "EV-2"]


def test_ledger_keeps_exact_sums_of_fractional_kw() -> None:
    north = ledger(capacity_kw=74)
    for number in range(10):
        north.admit(charge(f"EV-{number}", 7.4), T0)
    assert north.load_kw == 74
    assert north.headroom_kw == 0


def test_ledger_refuses_everyone_while_draining_and_keeps_running_sessions() -> None:
    north = ledger()
    north.admit(charge("EV-1", 10), T0)
    north.draining = True
    with pytest.raises(NoCapacity):
        north.admit(charge("EV-2", 10), T0)
    assert north.load_kw == 10


def test_ledger_restore_keeps_end_times_and_drops_ended_sessions() -> None:
    north = ledger()
    kept = north.admit(charge("EV-1", 10), T0).session
    ended = dataclasses.replace(kept, session_id="s9", vehicle_id="EV-2", ends_at=T0 + 10)
    restarted = ledger()
    restarted.restore([kept, ended], now=T0 + 20)
    assert restarted.sessions() == [kept]
    assert restarted.load_kw == 10


operations = st.lists(
    st.tuples(
        st.sampled_from(["admit", "stop", "tick"]),
        st.integers(0, 15),  # vehicle number
        st.floats(0.5, 120),  # kW asked
        st.floats(0.1, 1.0),  # min_amount as a share of it
        st.floats(0, 20),  # seconds that pass
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_ledger_never_books_over_capacity(ops: list[tuple[str, int, float, float, float]]) -> None:
    north = ledger(capacity_kw=150, session_seconds=45)
    now = T0
    for action, vehicle, amount, share, elapsed in ops:
        now += elapsed
        if action == "admit":
            with contextlib.suppress(NoCapacity):
                north.admit(charge(f"EV-{vehicle}", amount, amount * share), now)
        elif action == "stop" and (running := north.sessions()):
            north.expire(now)
            with contextlib.suppress(UnknownSession):  # it may have just ended
                north.stop(running[vehicle % len(running)].session_id, now)
        else:
            north.expire(now)
        assert 0 <= north.load_kw <= 150
        assert north.load_kw == pytest.approx(sum(s.granted_kw for s in north.sessions()))
        assert len({s.vehicle_id for s in north.sessions()}) == north.active_sessions
        assert north.next_expiry_at() == min((s.ends_at for s in north.sessions()), default=None)
