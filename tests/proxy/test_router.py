"""`proxy.router.answered`: an upstream answer as the charge attempt takes it."""

from __future__ import annotations

import pytest

from proxy.router import answered
from proxy.upstream import UpstreamAnswer


@pytest.mark.parametrize(
    ("room_in", "expected"),
    [("0.015", 0.015), (None, None), ("soon", None), ("-1", None), ("nan", None), ("inf", None)],
)
def test_a_refusal_s_room_in_is_read_when_it_is_a_finite_number_of_seconds(
    room_in: str | None, expected: float | None
) -> None:
    headers = (
        {"Retry-After": "2"}
        if room_in is None
        else {"Retry-After": "2", "X-Substation-Room-In": room_in}
    )
    outcome = answered("http://north", UpstreamAnswer(503, headers, b"{}"))
    assert outcome.retry_after_s == 2.0
    assert outcome.room_in_s == expected


def test_room_in_counts_only_on_a_refusal() -> None:
    headers = {"X-Substation-Room-In": "0.015"}
    assert answered("http://north", UpstreamAnswer(404, headers, b"{}")).room_in_s is None
