"""The substation's config from flags and env vars (SPEC section 1)."""

from __future__ import annotations

import pytest

from substation.config import SubstationConfig, parse_config


def test_env_vars_are_read_and_flags_win() -> None:
    env = {"SUBSTATION_NAME": "north", "CAPACITY_KW": "400", "PORT": "9001", "ADMIN_TOKEN": "t"}
    config = parse_config(["--capacity-kw", "250", "--session-seconds", "30"], env)
    assert config == SubstationConfig(
        name="north", port=9001, capacity_kw=250, session_seconds=30, admin_token="t"
    )


@pytest.mark.parametrize(
    "argv", [["--capacity-kw", "0"], ["--session-seconds", "-1"], ["--port", "x"]]
)
def test_bad_flags_stop_with_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        parse_config(argv, {})
    assert stop.value.code == 2
