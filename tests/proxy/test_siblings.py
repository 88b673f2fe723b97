"""`proxy.siblings`: workers tell each other their bookings through shared memory.

The board is the one `python -m proxy --workers N` makes (spawn context); here the workers'
links live in one process, which reads the same memory as two would.
"""

from __future__ import annotations

import multiprocessing
import random

import pytest

from proxy.balancer import Balancer
from proxy.siblings import (
    Booked,
    SiblingBoard,
    SiblingLink,
    SiblingRecord,
    Siblings,
    key_hash,
)

KEYS = ["http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8003"]
LEDGER = "a1b2c3d4e5f6"


def board(workers: int = 2, records: int = 64) -> SiblingBoard:
    return SiblingBoard(multiprocessing.get_context("spawn"), workers, records)


def balancer(seed: int) -> Balancer:
    grid = Balancer(rng=random.Random(seed))
    grid.set_substations(KEYS)
    for key in KEYS:
        grid.record_report(key, 0.0, 0.0, 500.0)
    return grid


def workers(count: int = 2) -> list[tuple[Balancer, Siblings]]:
    shared = board(count)
    grids = [balancer(number) for number in range(count)]
    return [
        (grid, Siblings(SiblingLink(shared, number), grid, silent_after_s=11.0))
        for number, grid in enumerate(grids)
    ]


def test_a_record_comes_back_as_written_to_every_sibling_but_its_writer() -> None:
    shared = board(3)
    links = [SiblingLink(shared, number) for number in range(3)]
    record = SiblingRecord(key_hash(KEYS[0]), 22.5, 2, 17, Booked(44.0, 61.5, (LEDGER, 7)))
    links[1].publish(record)
    assert list(links[0].read()) == [(1, record)]
    assert list(links[2].read()) == [(1, record)]
    assert list(links[1].read()) == []
    assert list(links[0].read()) == []  # read once


def test_a_reader_lapped_by_its_sibling_is_told_so_and_reads_what_the_ring_still_holds() -> None:
    shared = board(2, records=4)
    reader, writer = SiblingLink(shared, 0), SiblingLink(shared, 1)
    for kw in range(1, 7):
        writer.publish(SiblingRecord(key_hash(KEYS[0]), float(kw), 1, kw))
    read = list(reader.read())
    assert read[0] == (1, None)
    assert [record.pending_kw for _, record in read[1:] if record] == [3.0, 4.0, 5.0, 6.0]


def test_a_burst_split_between_two_workers_is_balanced_as_one_workers() -> None:
    pair = workers()
    rng = random.Random(1)
    placed = dict.fromkeys(KEYS, 0.0)
    for turn in range(100):  # every choice in flight: no answer comes back in between
        grid, siblings = pair[turn % 2]
        kw = rng.uniform(5, 20)
        siblings.hear(1.0)
        key = grid.choose(kw, kw, 1, now=1.0)[0]
        grid.begin(key, kw)
        siblings.tell(key)
        placed[key] += kw
    assert max(placed.values()) - min(placed.values()) <= 20
    pair[0][1].hear(1.0)  # the last word was the second worker's
    for grid, _ in pair:  # each sees the whole burst, its own half and its sibling's
        for key in KEYS:
            assert grid.view(key).projected_load_kw == pytest.approx(placed[key])


@pytest.mark.parametrize("telling", [True, False])
def test_the_second_worker_books_around_the_first_ones_bookings_only_when_told(
    telling: bool,
) -> None:
    """Each worker's own half is as even as it can be; the sum is, only if they tell."""
    pair = workers()
    placed = dict.fromkeys(KEYS, 0.0)
    for grid, siblings in pair:
        for kw in (20.0, 5.0, 5.0):
            if telling:
                siblings.hear(1.0)
            key = grid.choose(kw, kw, 1, now=1.0)[0]
            grid.begin(key, kw)
            siblings.tell(key)
            placed[key] += kw
    within_one_request = max(placed.values()) - min(placed.values()) <= 20.0
    assert within_one_request == telling  # blind: both put 20 kW on the same one


def test_an_answered_booking_counts_at_the_sibling_until_its_report_comes() -> None:
    (first, first_siblings), (second, second_siblings) = workers()
    first.begin(KEYS[0], 40.0)
    first_siblings.tell(KEYS[0])
    second_siblings.hear(1.0)
    assert second.view(KEYS[0]).projected_load_kw == pytest.approx(40.0)
    first.end(KEYS[0], 40.0)  # answered: 201, held by the substation's reports from seq 3
    first.record_report(KEYS[0], 1.1, 40.0, 500.0, 1.0, (LEDGER, 3))
    first_siblings.tell(KEYS[0], booked=Booked(40.0, 61.0, (LEDGER, 3)))
    second_siblings.hear(1.2)
    view = second.view(KEYS[0])
    assert view.sibling_kw == 0.0
    assert view.projected_load_kw == pytest.approx(40.0)
    second.record_report(KEYS[0], 1.3, 40.0, 500.0, None, (LEDGER, 3))  # the load stream
    assert view.projected_load_kw == pytest.approx(40.0)  # once, not twice
    assert view.recently_booked_kw(1.3, 10.0) > 39.0  # booked lately, as its own would be
    second.settle(61.0)  # the session ended: off the load before any report says so
    assert view.projected_load_kw == 0.0


def test_a_ledger_id_too_long_for_a_record_is_left_to_the_load_stream() -> None:
    (_, first_siblings), (second, second_siblings) = workers()
    first_siblings.tell(KEYS[1], booked=Booked(40.0, 61.0, ("x" * 40, 3)))
    second_siblings.hear(1.0)
    assert second.view(KEYS[1]).sibling_booked_kw == 0.0


def test_a_substation_the_reader_does_not_know_yet_is_skipped() -> None:
    (first, first_siblings), (second, second_siblings) = workers()
    first.set_substations([*KEYS, "http://127.0.0.1:8004"])
    first.begin("http://127.0.0.1:8004", 10.0)
    first_siblings.tell("http://127.0.0.1:8004")
    second_siblings.hear(1.0)  # nothing to count it on, and nothing breaks
    second.set_substations([*KEYS, "http://127.0.0.1:8004"])
    first_siblings.tell("http://127.0.0.1:8004")
    second_siblings.hear(1.1)
    assert second.view("http://127.0.0.1:8004").sibling_kw == pytest.approx(10.0)


def test_what_a_lapped_reader_was_told_stops_counting() -> None:
    shared = board(2, records=2)
    first, second = balancer(0), balancer(1)
    writer, reader = (
        Siblings(SiblingLink(shared, 0), first, silent_after_s=11.0),
        Siblings(SiblingLink(shared, 1), second, silent_after_s=11.0),
    )
    first.begin(KEYS[0], 30.0)
    writer.tell(KEYS[0])
    reader.hear(1.0)
    assert second.view(KEYS[0]).sibling_kw == pytest.approx(30.0)
    for _ in range(3):
        writer.tell(KEYS[1])  # laps the reader: KEYS[0]'s record is gone
    reader.hear(1.1)
    assert second.view(KEYS[0]).sibling_kw == 0.0


def test_what_a_sibling_silent_longer_than_a_request_can_take_had_in_flight_stops_counting() -> (
    None
):
    """A worker that died with requests in flight tells nothing more: after the longest a
    request can take, its siblings stop counting them."""
    (first, first_siblings), (second, second_siblings) = workers()
    first.begin(KEYS[0], 30.0)
    first_siblings.tell(KEYS[0])
    second_siblings.hear(1.0)
    second_siblings.hear(12.0)  # 11 s of silence: still possible
    assert second.view(KEYS[0]).sibling_kw == pytest.approx(30.0)
    second_siblings.hear(12.5)
    assert second.view(KEYS[0]).sibling_kw == 0.0
