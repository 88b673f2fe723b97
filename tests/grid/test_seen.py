"""`grid.seen`: the charges a substation took from each proxy worker, as its reports say."""

from __future__ import annotations

import pytest

from grid.protocol import LoadReport, load_report_from_headers, load_report_from_stream_line
from grid.seen import ChargesSeen, format_seen, parse_seen


def test_charges_are_counted_by_worker_and_a_proxy_sees_only_its_own_workers() -> None:
    seen = ChargesSeen()
    for ref in ["ab12.0", "ab12.1", "ab12.0", "ffff.0", None, "not a ref", "AB12.0"]:
        seen.count(ref)
    assert seen.of_proxy("ab12.1") == {"ab12.0": 2, "ab12.1": 1}
    assert seen.of_proxy("ffff.3") == {"ffff.0": 1}
    assert seen.of_proxy(None) == {}
    assert seen.every() == {"ab12.0": 2, "ab12.1": 1, "ffff.0": 1}


def test_a_substation_keeps_the_workers_it_heard_from_last() -> None:
    seen = ChargesSeen(limit=2)
    for ref in ["a.0", "b.0", "a.0", "c.0"]:
        seen.count(ref)
    assert seen.every() == {"a.0": 2, "c.0": 1}


@pytest.mark.parametrize(
    "value",
    ["ab12.0=x", "ab12.0=-1", "nothex.0=1", {"ab12.0": True}, {"ab12.0": 1.5}, ["ab12.0"], 7],
)
def test_counts_that_are_not_counts_are_left_out_of_the_report(value: object) -> None:
    assert parse_seen(value) is None


def test_counts_ride_on_answers_and_on_the_load_stream() -> None:
    report = LoadReport("s1", 40.0, 500.0, ("a1b2c3", 7), seen={"ab12.0": 3, "ab12.1": 5})
    assert format_seen({"ab12.0": 3}) == "ab12.0=3"
    again = load_report_from_headers(report.headers())
    assert again is not None and again.seen == {"ab12.0": 3, "ab12.1": 5}
    assert load_report_from_stream_line(report.stream_line()).seen == {"ab12.0": 3, "ab12.1": 5}
    plain = LoadReport("s1", 40.0, 500.0, ("a1b2c3", 7))
    assert "X-Substation-Seen" not in plain.headers()
    assert load_report_from_stream_line(plain.stream_line()).seen is None
