"""The wait queue: first come, first served, bounded by each waiter's deadline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.waiting import WaitQueue


def test_only_the_head_is_due_and_only_at_its_retry_time() -> None:
    queue: WaitQueue[str] = WaitQueue()
    first = queue.join("first", now=0, max_wait_s=30, retry_after_s=5)
    queue.join("second", now=1, max_wait_s=30, retry_after_s=1)
    assert queue.due(4.9) is None
    assert queue.due(5) is first


def test_power_freed_moves_the_heads_retry_forward() -> None:
    queue: WaitQueue[str] = WaitQueue()
    first = queue.join("first", now=0, max_wait_s=30, retry_after_s=20)
    queue.power_freed(3)
    assert queue.due(3) is first


def test_a_waiter_trying_is_not_due_and_does_not_time_out_mid_try() -> None:
    queue: WaitQueue[str] = WaitQueue()
    first = queue.join("first", now=0, max_wait_s=10, retry_after_s=1)
    queue.take_turn(first)
    assert queue.due(2) is None
    assert queue.timed_out(11) == []
    queue.refused_again(first, now=11, retry_after_s=5)
    assert queue.timed_out(11) == [first]
    assert len(queue) == 0


def test_next_event_is_the_heads_retry_or_the_first_deadline() -> None:
    queue: WaitQueue[str] = WaitQueue()
    queue.join("first", now=0, max_wait_s=60, retry_after_s=20)
    queue.join("second", now=0, max_wait_s=3, retry_after_s=1)
    assert queue.next_event_at() == 3


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(1, 100)), min_size=1, max_size=30))
def test_waiters_are_served_in_arrival_order(arrivals: list[tuple[float, float]]) -> None:
    queue: WaitQueue[int] = WaitQueue()
    now = 0.0
    for number, (gap, max_wait_s) in enumerate(arrivals):
        now += gap
        queue.join(number, now, max_wait_s, retry_after_s=0)
    served = []
    while queue.head() is not None:
        queue.timed_out(now)
        due = queue.due(now)
        if due is None:
            break
        served.append(due.item)
        queue.leave(due)
    assert served == sorted(served)


def test_a_turn_gives_up_the_late_lets_the_head_try_and_says_when_to_wake() -> None:
    queue: WaitQueue[str] = WaitQueue()
    first = queue.join("first", now=0, max_wait_s=30, retry_after_s=5)
    queue.join("second", now=0, max_wait_s=3, retry_after_s=1)
    turn = queue.next_turn(4.0)
    assert [waiter.item for waiter in turn.late] == ["second"]
    assert turn.head is None and turn.wake_at == 5.0
    turn = queue.next_turn(5.0)
    assert turn.head is first and turn.wake_at is None  # trying: nothing to wake for
    queue.turn_ended(first, 5.5, refused_retry_after_s=10)
    assert queue.next_turn(6.0).wake_at == 15.5
    queue.turn_ended(first, 16.0, refused_retry_after_s=None)
    assert len(queue) == 0
