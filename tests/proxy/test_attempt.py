"""The charge attempt as a table: each row, the outcomes a driver reports and the steps it is told.

Three substations of 100 kW, loaded 0, 20 and 40 kW, so `headroom` asks a, then b, then c.
Outcomes are written short: "201" (booked), "200" (its session already), "503" (refused, and
the report says full), "503 r7" (refused, Retry-After 7), "400", "unreachable", "broken",
"timeout".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from grid.booked import Booking
from grid.errors import NoCapacity
from grid.protocol import ChargeRequest, LoadReport
from proxy.attempt import (
    BROKEN,
    UNREACHABLE,
    Answered,
    Ask,
    ChargeAttempt,
    Finished,
    GiveUp,
    Outcome,
    Step,
    TimedOut,
    learn_stream_report,
)
from proxy.balancer import Balancer
from proxy.directory import SessionDirectory, SessionRoute

NOW = 1000.0
LOADS_KW = {"a": 0.0, "b": 20.0, "c": 40.0}
REQUEST = ChargeRequest("EV-1", 10.0, 10.0)


def grid_view() -> tuple[Balancer, SessionDirectory]:
    balancer = Balancer()
    balancer.set_substations(LOADS_KW)
    for key, load_kw in LOADS_KW.items():
        balancer.record_poll(key, NOW, load_kw=load_kw, capacity_kw=100.0, draining=False)
    return balancer, SessionDirectory()


def outcome_for(short: str, key: str, balancer: Balancer) -> Outcome:
    load_kw = balancer.view(key).load_kw
    if short == "unreachable":
        return UNREACHABLE
    if short == "broken":
        return BROKEN
    if short == "timeout":
        return TimedOut(f"{key} did not answer")
    status, _, retry = short.partition(" r")
    if status == "503":
        report = LoadReport(key, 100.0, 100.0)
        return Answered(503, report, retry_after_s=float(retry or 1))
    if status in ("200", "201"):
        route = SessionRoute("s-1", REQUEST.vehicle_id, key, NOW + 60, REQUEST.amount_kw)
        return Answered(int(status), LoadReport(key, load_kw + 10, 100.0), route)
    return Answered(int(status), LoadReport(key, load_kw, 100.0))


def shown(step: Step) -> str:
    if isinstance(step, Ask):
        verb = "look" if step.last_look else "retry" if step.retry else "ask"
        return f"{verb} {step.substation}"
    if isinstance(step, Finished):
        return f"finished {step.status}"
    error = step.error
    if isinstance(error, NoCapacity):
        return f"give up {error.code} r{error.retry_after_s}"
    return f"give up {error.code}"


def drive(outcomes: list[str], prepare: Callable[[Balancer], None] = lambda _: None) -> list[str]:
    balancer, directory = grid_view()
    prepare(balancer)
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    steps = [attempt.start(NOW)]
    for short in outcomes:
        asked = steps[-1]
        assert isinstance(asked, Ask), f"an outcome after {shown(asked)}"
        steps.append(attempt.take(outcome_for(short, asked.substation, balancer), NOW))
    return [shown(step) for step in steps]


TABLE = [
    ("booked at once", ["201"], ["ask a", "finished 201"]),
    ("its session already", ["200"], ["ask a", "finished 200"]),
    ("a bad request is final", ["400"], ["ask a", "finished 400"]),
    ("refused, then booked", ["503", "201"], ["ask a", "retry b", "finished 201"]),
    ("unreachable: tried elsewhere", ["unreachable", "201"], ["ask a", "retry b", "finished 201"]),
    ("broken: tried elsewhere", ["broken", "201"], ["ask a", "retry b", "finished 201"]),
    ("a timeout may have booked: 504", ["timeout"], ["ask a", "give up upstream_timeout"]),
    (
        "refused everywhere: the smallest Retry-After",
        ["503 r9", "503 r4", "503 r7"],
        ["ask a", "retry b", "retry c", "give up no_capacity r4"],
    ),
    (
        "nobody reachable: each probed once more (cheap), then no healthy substation",
        ["unreachable"] * 6,
        [
            "ask a",
            "retry b",
            "retry c",
            "look a",
            "look b",
            "look c",
            "give up no_healthy_substation",
        ],
    ),
]


@pytest.mark.parametrize(
    ("outcomes", "steps"), [row[1:] for row in TABLE], ids=[r[0] for r in TABLE]
)
def test_each_sequence_of_outcomes_gives_its_steps(outcomes: list[str], steps: list[str]) -> None:
    assert drive(outcomes) == steps


def test_after_the_retries_a_last_look_goes_where_a_refusal_reported_room() -> None:
    """b refused 10 kW yet reported 50 kW in use: sessions ended while the charge was on its
    way. It gets one last look, and only one."""
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    steps = [attempt.start(NOW)]
    for load_kw in (100.0, 50.0, 100.0, 100.0):
        asked = steps[-1]
        assert isinstance(asked, Ask)
        report = LoadReport(asked.substation, load_kw, 100.0)
        steps.append(attempt.take(Answered(503, report, retry_after_s=2), NOW))
    assert [shown(step) for step in steps] == [
        "ask a",
        "retry b",
        "retry c",
        "look b",
        "give up no_capacity r2",
    ]


@pytest.mark.parametrize(
    ("room_in_s", "last"), [(0.015, "look a at +0.015"), (0.3, "give up no_capacity r1")]
)
def test_a_refusal_that_says_room_comes_within_room_wait_s_is_asked_again_then(
    room_in_s: float, last: str
) -> None:
    """Every substation refused and none shows room, but a's refusal said one of its sessions
    ends in 15 ms: a timed last look then, rather than a 503 (not when it says 300 ms, past
    `room_wait_s`, 0.25 s)."""
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    steps = [attempt.start(NOW)]
    for _ in range(3):
        asked = steps[-1]
        assert isinstance(asked, Ask)
        report = LoadReport(asked.substation, 100.0, 100.0)
        room = room_in_s if asked.substation == "a" else None
        steps.append(attempt.take(Answered(503, report, room_in_s=room), NOW))
    timed = steps[-1]
    shown_last = shown(timed)
    if isinstance(timed, Ask):
        shown_last += f" at +{timed.at - NOW:.3f}"
        assert balancer.view("a").in_flight == 1  # counted in flight while it waits
    assert [shown(step) for step in steps[:3]] + [shown_last] == [
        "ask a",
        "retry b",
        "retry c",
        last,
    ]


def test_timed_last_looks_stop_after_room_looks() -> None:
    """A substation that always says "room in 1 ms" and always refuses gets `room_looks` (3)
    timed looks, then the driver its 503."""
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    step = attempt.start(NOW)
    timed = 0
    for _ in range(20):
        if not isinstance(step, Ask):
            break
        timed += step.at > 0
        report = LoadReport(step.substation, 100.0, 100.0)
        step = attempt.take(Answered(503, report, room_in_s=0.001), NOW)
    assert timed == 3
    assert shown(step) == "give up no_capacity r1"


def test_a_substation_that_refused_a_last_look_is_asked_again_once_a_session_there_ended() -> None:
    """b refused its last look full, but a session this proxy booked there ended while that
    answer was on its way (after b measured its load): the proxy knows the power is free, so
    b is asked once more instead of turning the driver away; and only once more."""
    balancer, directory = grid_view()
    balancer.record_booking("b", NOW + 0.2, 30.0, NOW - 59.8)
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    steps = [attempt.start(NOW)]
    for load_kw, now in ((100.0, NOW), (50.0, NOW), (100.0, NOW), (100.0, NOW + 0.3)):
        asked = steps[-1]
        assert isinstance(asked, Ask)
        report = LoadReport(asked.substation, load_kw, 100.0)
        steps.append(attempt.take(Answered(503, report, retry_after_s=2), now))
    assert [shown(step) for step in steps] == ["ask a", "retry b", "retry c", "look b", "look b"]
    report = LoadReport("b", 100.0, 100.0)  # refused again: full, nothing ended since
    assert shown(attempt.take(Answered(503, report, retry_after_s=2), NOW + 0.4)).startswith(
        "give up no_capacity"
    )


def test_no_serving_substation_gives_up_at_once() -> None:
    def all_down(balancer: Balancer) -> None:
        for key in LOADS_KW:
            balancer.record_health(key, "poll_failed")
            balancer.record_health(key, "poll_failed")

    assert drive([], all_down) == ["give up no_healthy_substation"]


def test_a_vehicle_that_charges_somewhere_is_sent_there_first() -> None:
    balancer, directory = grid_view()
    directory.remember(SessionRoute("s-0", REQUEST.vehicle_id, "c", NOW + 30, 10.0), NOW)
    assert shown(ChargeAttempt(REQUEST, balancer, directory, 2).start(NOW)) == "ask c"


def test_what_an_answer_teaches_is_kept() -> None:
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    attempt.start(NOW)
    assert (balancer.view("a").in_flight, balancer.view("a").pending_kw) == (1, 10.0)
    attempt.take(outcome_for("201", "a", balancer), NOW + 0.01)
    view = balancer.view("a")
    assert (view.in_flight, view.pending_kw, view.load_kw) == (0, 0.0, 10.0)
    assert list(view.bookings) == [(NOW + 60, 10.0)]
    route = directory.for_vehicle(REQUEST.vehicle_id, NOW)
    assert route is not None and route.substation == "a"


def test_a_refused_connection_takes_the_substation_out_and_a_timeout_makes_it_suspect() -> None:
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    attempt.start(NOW)
    attempt.take(UNREACHABLE, NOW)
    attempt.take(TimedOut("b is slow"), NOW)
    assert [balancer.view(key).health for key in "abc"] == ["down", "suspect", "healthy"]


def test_a_request_that_never_left_is_not_counted_as_sent() -> None:
    """The watts asked are compared with what substations say they took (`grid.seen`): one
    that could not be connected to took nothing, and a timed-out request may have been taken."""
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    attempt.start(NOW)
    attempt.take(UNREACHABLE, NOW)
    attempt.take(TimedOut("b is slow"), NOW)
    asked_w = round(REQUEST.amount_kw * 1000)
    assert [balancer.view(key).sent_w for key in "abc"] == [0, asked_w, 0]


def test_an_abandoned_attempt_leaves_nothing_in_flight() -> None:
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    attempt.start(NOW)
    attempt.abandon()
    attempt.abandon()  # twice is harmless
    assert all(view.in_flight == 0 and view.pending_kw == 0 for view in balancer.views())


def test_give_up_carries_the_error_a_driver_raises() -> None:
    balancer, directory = grid_view()
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=0)
    attempt.start(NOW)
    step = attempt.take(Answered(503, LoadReport("a", 100.0, 100.0), retry_after_s=5), NOW)
    while isinstance(step, Ask):
        step = attempt.take(Answered(503, LoadReport(step.substation, 100.0, 100.0)), NOW)
    assert isinstance(step, GiveUp)
    assert isinstance(step.error, NoCapacity)
    assert step.error.status == 503


def test_asking_again_for_a_vehicles_session_adds_no_load_where_it_charges() -> None:
    """The vehicle charges at c already (the directory says so): its repeated charge is asked
    there and is answered with that session, so while it is in flight c's load is not raised
    by it, though it counts among the requests and watts asked there. Counted as load, a
    burst's repeated vehicles steered the charges placed meanwhile away from their substations:
    the seed burst through real processes, its last 90 charges sent once its first answers
    were back, ended 22.6 kW apart where one request is 19.7 kW."""
    balancer, directory = grid_view()
    directory.remember(SessionRoute("s-1", REQUEST.vehicle_id, "c", NOW + 60, 10.0), NOW)
    before = balancer.view("c").projected_load_kw
    attempt = ChargeAttempt(REQUEST, balancer, directory, retries=2)
    step = attempt.start(NOW)
    assert shown(step) == "ask c"
    assert balancer.view("c").projected_load_kw == before
    assert (balancer.view("c").in_flight, balancer.view("c").sent_w) == (1, 10_000)
    assert shown(attempt.take(outcome_for("200", "c", balancer), NOW)) == "finished 200"
    assert balancer.view("c").in_flight == 0
    # Turned away there after all (the session ended meanwhile): the next is asked as any is,
    # its load counted.
    other = ChargeAttempt(ChargeRequest("EV-1", 10.0, 10.0), balancer, directory, retries=2)
    step = other.start(NOW)
    assert shown(step) == "ask c"
    step = other.take(outcome_for("503", "c", balancer), NOW)
    assert isinstance(step, Ask) and step.substation != "c"
    assert balancer.view(step.substation).pending_kw == 10.0


def test_a_vehicle_booked_through_another_proxy_is_asked_where_it_charges() -> None:
    """The load stream tells of bookings with their vehicles: a vehicle booked at c through
    another proxy (or worker) and asking again here is asked at c, for the session it has
    (`again`: counted in flight without load), not placed anew at a, the emptiest."""
    balancer, directory = grid_view()
    balancer.ref = "aa11.0"
    booked = (
        Booking(7, "bb22.0", 10.0, NOW + 59, "EV-1"),  # another proxy's
        Booking(8, "aa11.0", 10.0, NOW + 59, "EV-2"),  # this worker's own: its answer told
        Booking(9, "bb22.0", 10.0, NOW - 1, "EV-3"),  # over already
        Booking(10, "", 10.0, NOW + 59, ""),  # from a substation that names no vehicle
    )
    report = LoadReport("c", 40.0, 100.0, ("e", 10), booked=booked)
    learn_stream_report(balancer, directory, "c", report, NOW)
    route = directory.for_vehicle("EV-1", NOW)
    assert route is not None and (route.substation, route.ends_at) == ("c", NOW + 59)
    assert directory.for_vehicle("EV-2", NOW) is None
    assert directory.for_vehicle("EV-3", NOW) is None
    ask = ChargeAttempt(REQUEST, balancer, directory, retries=2).start(NOW)
    assert isinstance(ask, Ask) and ask.substation == "c"
    assert balancer.view("c").pending_kw == 0.0  # asked again: no load in flight


def test_a_new_subscribers_first_line_tells_where_each_vehicle_charges() -> None:
    balancer, directory = grid_view()
    charging = (("EV-1", NOW + 30), ("EV-2", NOW - 1))  # EV-2's ended since
    report = LoadReport("b", 20.0, 100.0, ("e", 3), vehicles=charging)
    learn_stream_report(balancer, directory, "b", report, NOW)
    route = directory.for_vehicle("EV-1", NOW)
    assert route is not None and (route.substation, route.ends_at) == ("b", NOW + 30)
    assert directory.for_vehicle("EV-2", NOW) is None
