"""Schemathesis against the running proxy: every answer matches openapi.yaml, none is a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack.processes import running_stack
from tests.helpers import free_stack_layout

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def schemathesis(proxy_url: str, cwd: Path, *options: str) -> None:
    """Run schemathesis against the proxy with openapi.yaml; fail with its report if it finds
    anything (or no operation matches `options`)."""
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "run", str(ROOT / "openapi.yaml")),
            *("--url", proxy_url, "--checks", CHECKS, "--seed", "1", *options),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )
    assert finished.returncode == 0, finished.stdout[-6000:] + finished.stderr[-2000:]


@pytest.mark.stack
def test_schemathesis_finds_no_5xx_and_no_answer_off_the_schema(tmp_path: Path) -> None:
    pytest.importorskip("schemathesis")
    # Room for everything schemathesis asks, so that no 503 no_capacity is expected.
    layout = free_stack_layout(substation_capacities_kw=(1e6, 1e6, 1e6))
    with running_stack(layout, tmp_path / "logs"):
        schemathesis(
            layout.proxy_url,
            tmp_path,
            *("--max-examples", "40", "--workers", "2", "--exclude-path", "/metrics"),
        )


@pytest.mark.stack
def test_schemathesis_drives_the_admin_api_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin paths with the grid's token: every answer (200 for a real substation's name,
    404 for others) as openapi.yaml says; then the same without the token: 401, as said."""
    pytest.importorskip("schemathesis")
    monkeypatch.setenv("ADMIN_TOKEN", "grid-admin")  # the stack's processes inherit it
    layout = free_stack_layout()
    with running_stack(layout, tmp_path / "logs"):
        admin = ("--max-examples", "20", "--include-path-regex", "^/admin/")
        schemathesis(layout.proxy_url, tmp_path, *admin, "-H", "Authorization: Bearer grid-admin")
        schemathesis(layout.proxy_url, tmp_path, *admin)
