"""Validation of `POST /charge` bodies (SPEC section 1), table-driven, no sockets."""

from __future__ import annotations

import json
import json.scanner
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid import protocol
from grid.errors import ApiError
from grid.protocol import (
    ChargeRequest,
    check_content_type,
    check_declared_length,
    parse_charge_fields,
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
    with pytest.raises(ApiError) as error:
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


def test_a_field_of_the_proxys_own_is_refused_by_the_substations_parser() -> None:
    body = b'{"vehicle_id": "EV-1", "amount": 11, "max_wait_s": 30}'
    with pytest.raises(ApiError) as error:
        parse_charge_request(body)
    assert "max_wait_s" in error.value.detail


def test_extra_fields_come_back_unjudged_and_the_body_is_then_not_forwarded_as_it_came() -> None:
    body = b'{"vehicle_id": "EV-1", "amount": 22, "max_wait_s": 5}'
    request, extras = parse_charge_fields(body, frozenset({"max_wait_s"}))
    assert extras == {"max_wait_s": 5}
    forwarded = request.substation_body()
    assert b"max_wait_s" not in forwarded
    assert parse_charge_request(forwarded) == ChargeRequest("EV-1", 22, 22)


def test_a_body_with_no_extra_field_is_forwarded_as_it_came() -> None:
    body = b'{"vehicle_id": "EV-1",  "amount": 22, "min_amount": 7.5}'
    assert parse_charge_request(body).substation_body() is body


def test_times_are_rfc3339_utc_with_milliseconds() -> None:
    assert rfc3339(1_800_000_000.25) == "2027-01-15T08:00:00.250Z"


def as_datetime_writes_it(epoch_s: float) -> str:
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "epoch_s",
    [
        0.0,
        1_800_000_000.0,
        1_800_000_000.9995,  # milliseconds are cut, not rounded
        1_800_000_000.9999996,  # microseconds round up into the next second
        1_800_000_000.0000005,  # half a microsecond: to even
        1_800_000_000.0000015,
        -0.0004,  # before the epoch: the fraction is borrowed from the second
        -1.9999996,
        59.999,
        86_399.9999999,  # into the next day
    ],
)
def test_times_are_written_as_datetime_writes_them(epoch_s: float) -> None:
    assert rfc3339(epoch_s) == as_datetime_writes_it(epoch_s)


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=-2e9, max_value=2e10, allow_nan=False))
def test_any_time_is_written_as_datetime_writes_it(epoch_s: float) -> None:
    assert rfc3339(epoch_s) == as_datetime_writes_it(epoch_s)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3f2a9c01b2d4-17", ("3f2a9c01b2d4", 17)), ("x-y-0", ("x-y", 0)), (None, None)]
    + [(bad, None) for bad in ("", "17", "-17", "abc-", "abc-1.5", "abc-+1")],
)
def test_load_seq_is_read_or_ignored(value: str | None, expected: tuple[str, int] | None) -> None:
    assert parse_load_seq(value) == expected


JSON_TEXTS = [
    '{"vehicle_id": "EV-1", "amount": 11}',
    ' \t\r\n{"amount": 11} \n',
    "[1, 2]",
    '"EV-1"',
    "11",
    "",
    "   ",
    "{",
    '{"amount": 11} x',
    '{"amount": 11}{"amount": 12}',
    '{"amount": 11}\u00a0',  # a no-break space is not JSON's whitespace
    '\u00a0{"amount": 11}',
    '{"amount": NaN}',
    '{"amount": 1, "amount": 2}',
    '{"vehicle_id": "EV-\\ud800"}',
    "[" * 100 + "]" * 100,
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_decode_json_is_the_decoders_own_decode(text: str) -> None:
    for decoder in (protocol._DECODER, json.JSONDecoder()):
        scan: protocol.JsonScanner = json.scanner.make_scanner(decoder)  # type: ignore[arg-type]
        try:
            expected: object = decoder.decode(text)
        except ValueError as error:  # JSONDecodeError, or what a hook refused
            with pytest.raises(type(error)) as raised:
                protocol.decode_json(scan, text)
            assert str(raised.value) == str(error)
        else:
            assert protocol.decode_json(scan, text) == expected


def numbers_as_floats(fields: dict[str, object]) -> dict[str, object]:
    """What validation makes of a field (`number_field` takes every number as a float):
    orjson gives an integer past 64 bits as a float, the standard decoder as an int."""
    return {name: as_float(value) for name, value in fields.items()}


def as_float(value: object) -> object:
    if type(value) not in (int, float):
        return value
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # past any float: validation refuses it either way
        return value


def strictly_or_error(body: bytes) -> dict[str, object] | str:
    try:
        return protocol._decode_strictly(body)
    except ApiError as error:
        return error.code


FLAT_BODIES = [
    b'{"vehicle_id": "EV-1", "amount": 11}',
    b'{"vehicle_id": "EV-1", "amount": 7.4, "min_amount": 3.7, "max_wait_s": 30}',
    b'{"amount": 1' + b"0" * 30 + b', "vehicle_id": "EV-1"}',  # past 64 bits
    b' {"vehicle_id":"EV-1","amount":-0}\n',
    b'{"vehicle_id": "EV-\\u00e9", "amount": 1e-3}',
]


@pytest.mark.parametrize("body", FLAT_BODIES)
def test_a_flat_body_is_decoded_fast_to_what_the_strict_decoder_gives(body: bytes) -> None:
    flat = protocol._decode_flat_object(body)
    assert flat is not None
    assert numbers_as_floats(flat) == numbers_as_floats(protocol._decode_strictly(body))


DECODED_BODIES = [text.encode() for text in JSON_TEXTS] + [case[1] for case in BAD_CHARGES]


@pytest.mark.parametrize("body", DECODED_BODIES + FLAT_BODIES)
def test_a_body_decodes_as_the_strict_decoder_decodes_it(body: bytes) -> None:
    try:
        decoded: dict[str, object] | str = numbers_as_floats(protocol._decode_object(body))
    except ApiError as error:
        decoded = error.code
    strict = strictly_or_error(body)
    assert decoded == (strict if isinstance(strict, str) else numbers_as_floats(strict))


@pytest.mark.parametrize(
    "body",
    [
        b'{"vehicle_id": "EV-1", "amount": 11, "amount": 11}',
        b'{"amount": 1, "vehicle_id": "EV-1", "vehicle_id": "EV-2"}',
        b'{"amount": 1, "amo\\u0075nt": 2}',  # the same name, once with an escape
        b'{"vehicle_id": "EV-\\"1", "amount": 11}',  # an escaped quote
        b'{"vehicle_id": "EV-1", "amount": true}',
        b'{"vehicle_id": "EV-1", "amount": 11, "x": {"y": 1}}',
        b'{"vehicle_id": "EV-1", "amount": NaN}',
        b'{"vehicle_id": "EV-\\ud800", "amount": 11}',
        b'{"vehicle_id": "EV-1", "amount": 11} x',
        b"[11]",
    ],
)
def test_what_is_not_a_flat_object_of_fields_once_is_left_to_the_strict_decoder(
    body: bytes,
) -> None:
    assert protocol._decode_flat_object(body) is None
    with pytest.raises(ApiError):
        parse_charge_fields(body, frozenset({"max_wait_s"}))


FIELD_NAMES = st.sampled_from(["vehicle_id", "amount", "min_amount", "a", 'q\\"', "amo\\u0075nt"])
FIELD_VALUES = st.one_of(
    st.text(max_size=8),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=5))
def test_the_fast_decoder_never_takes_what_the_strict_one_refuses(
    fields: list[tuple[str, object]],
) -> None:
    # Names written raw, so that an escape in one reaches the decoders as an escape.
    pairs = ", ".join(f'"{name}": {json.dumps(value)}' for name, value in fields)
    body = ("{" + pairs + "}").encode()
    flat = protocol._decode_flat_object(body)
    strict = strictly_or_error(body)
    if flat is None:
        plain = all(type(v) in (str, int, float) and '"' not in str(v) for _, v in fields)
        names = [json.loads(f'"{name}"') for name, _ in fields]
        # Left out only for a reason: a name twice, a quote, or a value not a string or number.
        assert not plain or len(set(names)) < len(names) or any('"' in n for n in names)
    else:
        assert isinstance(strict, dict)
        assert numbers_as_floats(flat) == numbers_as_floats(strict)
