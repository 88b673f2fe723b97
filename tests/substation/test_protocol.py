"""Validation of `POST /charge` bodies (SPEC section 1), table-driven, no sockets."""

from __future__ import annotations

import pytest

from substation.errors import ChargeError
from substation.protocol import (
    ChargeRequest,
    check_content_type,
    check_declared_length,
    parse_charge_request,
    parse_load_seq,
    rfc3339,
)
from tests.helpers import BAD_CHARGES


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [pytest.param(*case[:4], id=case[4]) for case in BAD_CHARGES],
)
def test_bad_charge_is_refused_with_its_status(
    content_type: str | None, body: bytes, status: int, code: str
) -> None:
    with pytest.raises(ChargeError) as error:
        check_content_type(content_type)
        check_declared_length(len(body))
        parse_charge_request(body)
    assert (error.value.status, error.value.code) == (status, code)
    assert error.value.detail


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"vehicle_id": "EV-1234", "amount": 11}', ChargeRequest("EV-1234", 11, 11)),
        (b'{"vehicle_id": "a.b:c_d-9", "amount": 350}', ChargeRequest("a.b:c_d-9", 350, 350)),
        (
            b'{"vehicle_id": "EV-1", "amount": 7.4, "min_amount": 7.4}',
            ChargeRequest("EV-1", 7.4, 7.4),
        ),
        (
            b'{"vehicle_id": "EV-1", "amount": 22, "min_amount": 1e-3}',
            ChargeRequest("EV-1", 22, 1e-3),
        ),
        (
            ("{" + '"vehicle_id": "' + "E" * 64 + '", "amount": 1}').encode(),
            ChargeRequest("E" * 64, 1, 1),
        ),
    ],
)
def test_good_charge_is_parsed(body: bytes, expected: ChargeRequest) -> None:
    assert parse_charge_request(body) == expected


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_media_types_are_accepted(content_type: str) -> None:
    check_content_type(content_type)


def test_max_wait_is_for_the_proxy_only() -> None:
    body = b'{"vehicle_id": "EV-1", "amount": 11, "max_wait_s": 30}'
    assert parse_charge_request(body, allow_wait=True).max_wait_s == 30
    with pytest.raises(ChargeError):
        parse_charge_request(body)


@pytest.mark.parametrize("wait", [b"-1", b"301", b"true", b'"30"'])
def test_max_wait_outside_0_to_300_is_refused(wait: bytes) -> None:
    with pytest.raises(ChargeError) as error:
        parse_charge_request(
            b'{"vehicle_id": "EV-1", "amount": 11, "max_wait_s": ' + wait + b"}", allow_wait=True
        )
    assert error.value.status == 400


def test_substation_body_carries_no_proxy_field() -> None:
    request = ChargeRequest("EV-1", 22, 7, max_wait_s=30)
    assert parse_charge_request(request.substation_body()) == ChargeRequest("EV-1", 22, 7)


def test_a_body_with_no_proxy_field_is_forwarded_as_it_came() -> None:
    body = b'{"vehicle_id": "EV-1",  "amount": 22, "min_amount": 7.5}'
    assert parse_charge_request(body, allow_wait=True).substation_body() is body
    waiting = b'{"vehicle_id": "EV-1", "amount": 22, "max_wait_s": 5}'
    forwarded = parse_charge_request(waiting, allow_wait=True).substation_body()
    assert b"max_wait_s" not in forwarded
    assert parse_charge_request(forwarded) == ChargeRequest("EV-1", 22, 22)


def test_times_are_rfc3339_utc_with_milliseconds() -> None:
    assert rfc3339(1_800_000_000.25) == "2027-01-15T08:00:00.250Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3f2a9c01b2d4-17", ("3f2a9c01b2d4", 17)), ("x-y-0", ("x-y", 0)), (None, None)]
    + [(bad, None) for bad in ("", "17", "-17", "abc-", "abc-1.5", "abc-+1")],
)
def test_load_seq_is_read_or_ignored(value: str | None, expected: tuple[str, int] | None) -> None:
    assert parse_load_seq(value) == expected
