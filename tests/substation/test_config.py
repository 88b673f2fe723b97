"""The substation's config from flags and env vars (SPEC section 1)."""

from __future__ import annotations

import pytest

from substation.config import SubstationConfig, parse_config


def test_a_name_may_be_any_printable_ascii() -> None:
    assert parse_config(["--name", "North 7 (depot)"], {}).name == "North 7 (depot)"


def test_env_vars_are_read_and_flags_win() -> None:
    env = {"SUBSTATION_NAME": "north", "CAPACITY_KW": "400", "PORT": "9001", "ADMIN_TOKEN": "t"}
    config = parse_config(["--capacity-kw", "250", "--session-seconds", "30"], env)
    assert config == SubstationConfig(
        name="north", port=9001, capacity_kw=250, session_seconds=30, admin_token="t"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--capacity-kw", "0"],
        ["--capacity-kw", "inf"],
        ["--session-seconds", "-1"],
        ["--port", "x"],
        ["--port", "65536"],
        ["--report-interval", "11"],
        ["--name", "north\r\nX-Injected: 1"],
        ["--name", "s\u00fcd"],
    ],
)
def test_bad_flags_stop_with_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        parse_config(argv, {})
    assert stop.value.code == 2


@pytest.mark.parametrize(
    ("variable", "text"),
    [("CAPACITY_KW", "lots"), ("PORT", "70000"), ("SESSION_SECONDS", "nan")],
)
def test_a_bad_env_var_stops_with_a_usage_error_naming_it(
    variable: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        parse_config([], {"SUBSTATION_NAME": "north", variable: text})
    assert stop.value.code == 2
    assert f"{variable}={text!r}" in capsys.readouterr().err
