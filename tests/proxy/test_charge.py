"""The proxy's own field, `max_wait_s`: judged at the proxy, never forwarded."""

from __future__ import annotations

import pytest

from grid.errors import ApiError
from grid.protocol import ChargeRequest, parse_charge_request
from proxy.charge import ProxyCharge, parse_proxy_charge


def test_max_wait_is_read_by_the_proxy_and_left_out_of_what_it_forwards() -> None:
    charge = parse_proxy_charge(b'{"vehicle_id": "EV-1", "amount": 11, "max_wait_s": 30}')
    assert charge.max_wait_s == 30
    assert parse_charge_request(charge.request.substation_body()) == ChargeRequest("EV-1", 11, 11)


def test_without_max_wait_the_body_is_forwarded_as_it_came() -> None:
    body = b'{"vehicle_id": "EV-1", "amount": 11}'
    charge = parse_proxy_charge(body)
    assert charge == ProxyCharge(ChargeRequest("EV-1", 11, 11), 0.0)
    assert charge.request.substation_body() is body


@pytest.mark.parametrize("wait", [b"-1", b"301", b"true", b'"30"', b"1e999"])
def test_max_wait_outside_0_to_300_is_refused(wait: bytes) -> None:
    with pytest.raises(ApiError) as error:
        parse_proxy_charge(b'{"vehicle_id": "EV-1", "amount": 11, "max_wait_s": ' + wait + b"}")
    assert error.value.status == 400
