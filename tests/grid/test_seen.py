"""`grid.seen`: the watts a substation was asked for by each proxy worker, as its reports say."""

from __future__ import annotations

import pytest

from grid.protocol import LoadReport, load_report_from_headers, load_report_from_stream_line
from grid.seen import ChargesSeen, format_seen, parse_seen, watts


def test_watts_are_summed_by_worker_and_a_proxy_sees_only_its_own_workers() -> None:
    seen = ChargesSeen()
    refs = ["ab12.0", "ab12.1", "ab12.0", "ffff.0", None, "not a ref", "AB12.0"]
    for ref, kw in zip(refs, [11.0, 7.5, 0.1, 22.0, 5.0, 5.0, 5.0], strict=True):
        seen.count(ref, kw)
    assert seen.of_proxy("ab12.1") == {"ab12.0": 11_100, "ab12.1": 7_500}
    assert seen.of_proxy("ffff.3") == {"ffff.0": 22_000}
    assert seen.of_proxy(None) == {}
    assert seen.every() == {"ab12.0": 11_100, "ab12.1": 7_500, "ffff.0": 22_000}


def test_sums_of_watts_agree_exactly_where_sums_of_kw_would_not() -> None:
    """The substation adds the charges in the order they arrive, the proxy in the order it sent
    them: in kW the two sums can differ, in whole watts they cannot."""
    amounts_kw = [0.1, 0.2, 0.3]
    assert sum(amounts_kw) != sum(reversed(amounts_kw))
    seen = ChargesSeen()
    for kw in amounts_kw:
        seen.count("ab12.0", kw)
    assert seen.every()["ab12.0"] == sum(watts(kw) for kw in reversed(amounts_kw)) == 600


def test_a_substation_keeps_the_workers_it_heard_from_last() -> None:
    seen = ChargesSeen(limit=2)
    for ref in ["a.0", "b.0", "a.0", "c.0"]:
        seen.count(ref, 1.0)
    assert seen.every() == {"a.0": 2_000, "c.0": 1_000}


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
