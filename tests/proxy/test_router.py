"""`proxy.router.answered`: an upstream answer as the charge attempt takes it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxy.router import answered, session_route
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


SESSION_BODY = (
    b'{"session_id": "s-1", "vehicle_id": "EV-1", "substation": "north", "requested_kw": 11,'
    b' "granted_kw": 7.5, "started_at": "2026-12-04T08:00:00.000Z",'
    b' "ends_at": "2026-12-04T08:01:00.250Z"}'
)


def test_a_session_answer_gives_the_route_the_proxy_keeps() -> None:
    route = session_route("http://north", SESSION_BODY)
    assert route is not None
    assert (route.session_id, route.vehicle_id, route.substation) == ("s-1", "EV-1", "http://north")
    assert route.granted_kw == 7.5
    assert route.ends_at == datetime(2026, 12, 4, 8, 1, 0, 250000, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",  # not UTF-8
        b"[1, 2]",
        b'{"session_id": "s-1"}',  # fields missing
        SESSION_BODY.replace(b'"2026-12-04T08:01:00.250Z"', b'"soon"'),
        SESSION_BODY.replace(b"7.5", b'"much"'),
        SESSION_BODY + b" trailing",
    ],
)
def test_an_answer_that_is_no_session_gives_no_route(body: bytes) -> None:
    assert session_route("http://north", body) is None
