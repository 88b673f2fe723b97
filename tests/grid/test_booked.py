"""The sessions a substation booked lately, as its load stream carries them (`grid.booked`)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from grid.booked import (
    MAX_BOOKED,
    VEHICLES_A_LINE,
    Booking,
    RecentBookings,
    bookings_from_json,
    bookings_to_json,
    charging_chunks,
    charging_from_json,
)
from grid.protocol import LoadReport, load_report_from_stream_line

T0 = 1_800_000_000.0


def test_the_window_keeps_the_last_second_oldest_first() -> None:
    recent = RecentBookings(window_s=1.0)
    recent.add(1, "ab12.0", 11.0, T0 + 60, "EV-1", T0)
    recent.add(2, "cd34.1", 22.0, T0 + 60.5, "EV-2", T0 + 0.5)
    assert recent.since(T0 + 0.9) == (
        Booking(1, "ab12.0", 11.0, T0 + 60, "EV-1"),
        Booking(2, "cd34.1", 22.0, T0 + 60.5, "EV-2"),
    )
    assert recent.since(T0 + 1.2) == (Booking(2, "cd34.1", 22.0, T0 + 60.5, "EV-2"),)
    assert recent.since(T0 + 2.0) == ()


def test_at_most_the_newest_limit_and_a_name_not_in_the_form_kept_as_empty() -> None:
    recent = RecentBookings(window_s=1.0, limit=3)
    for seq in range(5):
        recent.add(seq, "not a ref\n" if seq == 4 else None, 1.0, T0 + 60, f"EV-{seq}", T0)
    assert [(booking.seq, booking.ref) for booking in recent.since(T0)] == [
        (2, ""),
        (3, ""),
        (4, ""),
    ]


def test_a_stream_line_carries_them_and_reads_them_back() -> None:
    booked = (Booking(7, "ab12.0", 11.0, T0 + 60.25, "EV-7"), Booking(8, "", 3.5, T0 + 61, "EV-8"))
    report = LoadReport("north", 14.5, 100.0, ("e", 8), False, None, booked)
    assert load_report_from_stream_line(report.stream_line()).booked == booked
    quiet = LoadReport("north", 14.5, 100.0, ("e", 8))
    assert b"booked" not in quiet.stream_line()
    assert load_report_from_stream_line(quiet.stream_line()).booked is None


MALFORMED_BOOKED = [
    "7,ab12.0,11,1",
    [[7, "ab12.0", 11]],
    [[True, "ab12.0", 11, T0]],
    [[7.0, "ab12.0", 11, T0]],
    [[7, "not a ref", 11, T0]],
    [[7, "ab12.0", "11", T0]],
    [[7, "ab12.0", 0, T0]],
    [[7, "ab12.0", 11, None]],
    [[7, "ab12.0", 11, T0, 1234]],
    [[7, "ab12.0", 11, T0, "EV-" + "9" * 62]],
    [[7, "ab12.0", 11, T0, "EV-1", "more"]],
    [[7, "ab12.0", 11, T0]] * (MAX_BOOKED + 1),
]
MALFORMED_VEHICLES = [
    {"EV-1": T0},
    [["EV-1"]],
    [["EV-1", T0, 3]],
    [[1234, T0]],
    [["", T0]],
    [["EV-" + "9" * 62, T0]],
    [["EV-1", "soon"]],
    [["EV-1", None]],
    [["EV-1", T0]] * (VEHICLES_A_LINE + 1),
]


@pytest.mark.parametrize(
    ("field", "value"),
    [("booked", value) for value in MALFORMED_BOOKED]
    + [("vehicles", value) for value in MALFORMED_VEHICLES],
)
def test_a_malformed_list_is_none_and_the_report_is_still_taken(field: str, value: object) -> None:
    parse: Callable[[object], object] = (
        bookings_from_json if field == "booked" else charging_from_json
    )
    assert parse(value) is None
    line = LoadReport("north", 1.0, 100.0, ("e", 1)).stream_line()
    entry = f',"{field}":'.encode() + json.dumps(value).encode()
    report = load_report_from_stream_line(line.replace(b"}\n", entry + b"}\n"))
    assert (report.load_kw, report.booked, report.vehicles) == (1.0, None, None)


def test_a_number_json_does_not_allow_is_refused_too() -> None:
    assert bookings_from_json([[7, "ab12.0", float("nan"), T0]]) is None
    assert bookings_from_json([[7, "ab12.0", 11, float("inf")]]) is None
    assert charging_from_json([["EV-1", float("inf")]]) is None


def test_to_json_and_back_is_the_same() -> None:
    booked = (Booking(1, "ab12.0", 11.0, T0, "EV-1"),)
    assert bookings_from_json(bookings_to_json(booked)) == booked


def test_a_booking_from_a_substation_that_names_no_vehicle_is_taken_without_one() -> None:
    """Four fields, as a substation from before vehicles were told writes them (an upgrade
    of the proxies first, then the substations one by one)."""
    assert bookings_from_json([[7, "ab12.0", 11, T0]]) == (Booking(7, "ab12.0", 11.0, T0, ""),)


def test_what_the_reader_took_already_is_left_off_unjudged() -> None:
    booked = (Booking(7, "ab12.0", 11.0, T0 + 60), Booking(9, "", 3.5, T0 + 61))
    line = LoadReport("north", 14.5, 100.0, ("e", 9), False, None, booked).stream_line()
    assert load_report_from_stream_line(line, ("e", 7)).booked == booked[1:]
    assert load_report_from_stream_line(line, ("e", 9)).booked == ()
    # Taken from another ledger (the substation restarted since): every booking is new.
    assert load_report_from_stream_line(line, ("old", 8)).booked == booked
    # Old entries are not judged again; a new malformed one still is.
    assert bookings_from_json([[7, "not a ref", 0, None], [9, "", 3.5, T0]], 7) == (
        Booking(9, "", 3.5, T0),
    )
    assert bookings_from_json([[7, "ab12.0", 11, T0], [9, "", 0, T0]], 7) is None


def test_the_vehicles_charging_go_on_lines_of_at_most_a_few_hundred_and_read_back() -> None:
    charging = [(f"EV-{number}", T0 + number / 7) for number in range(VEHICLES_A_LINE + 1)]
    chunks = charging_chunks(charging)
    assert [len(chunk) for chunk in chunks] == [VEHICLES_A_LINE, 1]
    assert charging_chunks([]) == []
    line = LoadReport("north", 1.0, 100.0, ("e", 1), vehicles=chunks[1]).stream_line()
    (vehicle_id, ends_at), *_ = load_report_from_stream_line(line).vehicles or ()
    assert vehicle_id == f"EV-{VEHICLES_A_LINE}"
    assert ends_at == pytest.approx(charging[-1][1], abs=0.0005)  # to the millisecond
