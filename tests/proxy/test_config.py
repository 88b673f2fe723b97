"""The proxy's config from flags and env vars (SPEC section 2)."""

from __future__ import annotations

import pytest

from proxy.config import ProxyConfig, parse_config
from proxy.shard import Shard


def test_env_vars_are_read_and_flags_win() -> None:
    env = {
        "SUBSTATIONS": "http://a:1/, http://b:2",
        "POLICY": "round-robin",
        "RETRIES": "4",
        "DOWN_POLL_INTERVAL": "0.5",
    }
    config = parse_config(["--retries", "1", "--poll-interval", "2.5"], env)
    assert config == ProxyConfig(
        substations=("http://a:1", "http://b:2"),
        policy="round-robin",
        retries=1,
        poll_interval_s=2.5,
        down_poll_interval_s=0.5,
    )


def test_defaults_follow_the_spec() -> None:
    config = parse_config(["--discover", "substation:8000"], {})
    assert (config.host, config.port, config.poll_interval_s, config.policy, config.retries) == (
        "127.0.0.1",
        8080,
        5.0,
        "headroom",
        2,
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--substations", "http://a:1", "--policy", "fastest"],
        ["--discover", "x:1", "--retries", "-1"],
        ["--discover", "x:1", "--down-poll-interval", "0"],
        ["--discover", "x:1", "--port", "70000"],
        ["--discover", "x:1", "--poll-interval", "inf"],
        ["--discover", "x"],
        ["--substations", "foo"],
        ["--substations", "http://a:1,ftp://b:2"],
        ["--substations", "http://a:1", "--load-stream", "of"],
    ],
)
def test_bad_flags_stop_with_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        parse_config(argv, {})
    assert stop.value.code == 2


def test_a_shard_is_read_from_flag_or_env_and_checked() -> None:
    base = ["--substations", "http://a:8000"]
    assert parse_config([*base, "--shard", "2/8"], {}).shard == Shard(2, 8)
    assert parse_config(base, {"SHARD": "0/2"}).shard == Shard(0, 2)
    assert parse_config(base, {}).shard is None
    with pytest.raises(SystemExit):
        parse_config([*base, "--shard", "8/8"], {})


def test_workers_share_their_bookings_unless_told_not_to() -> None:
    base = ["--substations", "http://a:8000", "--workers", "2"]
    assert parse_config(base, {}).share_bookings
    assert not parse_config([*base, "--share-bookings", "off"], {}).share_bookings
    assert not parse_config(base, {"SHARE_BOOKINGS": "off"}).share_bookings
    with pytest.raises(SystemExit):
        parse_config([*base, "--share-bookings", "maybe"], {})


def test_sampled_futures_are_off_unless_given_a_number_of_draws() -> None:
    base = ["--substations", "http://a:8000"]
    assert parse_config(base, {}).rollout_draws == 0
    assert parse_config([*base, "--rollout-draws", "48"], {}).rollout_draws == 48
    assert parse_config(base, {"ROLLOUT_DRAWS": "24"}).rollout_draws == 24
    with pytest.raises(SystemExit):
        parse_config([*base, "--rollout-draws", "-1"], {})


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("WORKERS", "two"),
        ("POLL_INTERVAL", "inf"),
        ("LOAD_STREAM", "of"),
        ("SHARE_BOOKINGS", "maybe"),
        ("ROLLOUT_DRAWS", "many"),
        ("POLICY", "fastest"),
        ("SUBSTATIONS", "substation1:8000"),
        ("DISCOVER", "substation"),
    ],
)
def test_a_bad_env_var_stops_with_a_usage_error_naming_it(
    variable: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SUBSTATIONS": "http://a:1", variable: text}
    with pytest.raises(SystemExit) as stop:
        parse_config([], env)
    assert stop.value.code == 2
    assert f"{variable}={text!r}" in capsys.readouterr().err
