"""The compiled build (`setup.py`, `GRID_COMPILE=1`): what the image runs is the source's logic.

Built once for the module (about 20 s on two cores), unpacked, and run from its own directory
so that the compiled modules, not this checkout's sources, are imported.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.compiled import CHECKOUT, build


def compiled_core() -> list[str]:
    """setup.py's list of the modules it compiles (loaded under another name: not built)."""
    spec = importlib.util.spec_from_file_location("grid_build", CHECKOUT / "setup.py")
    assert spec is not None and spec.loader is not None
    build_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_script)
    return list(build_script.COMPILED_CORE)


@pytest.fixture(scope="module")
def compiled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = build(tmp_path_factory.mktemp("compiled"))
    left_out = shutil.ignore_patterns("__pycache__")
    for name in ("tests", "scenarios"):  # the tests read the scenarios from where they run
        shutil.copytree(CHECKOUT / name, site / name, ignore=left_out)
    return site


def run(argv: list[str], cwd: Path) -> str:
    finished = subprocess.run(
        [sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    return finished.stdout


def test_every_module_of_the_pure_core_is_compiled(compiled_site: Path) -> None:
    modules = [path.removesuffix(".py").replace("/", ".") for path in compiled_core()]
    found = json.loads(
        run(
            [
                "-c",
                "import importlib, json, sys; "
                "print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[1:]}))",
                *modules,
            ],
            compiled_site,
        )
    )
    assert sorted(found) == sorted(modules)
    interpreted = [module for module, path in found.items() if not path.endswith(".so")]
    assert interpreted == [], f"imported from source in the build: {interpreted}"


@pytest.mark.parametrize(
    ("scenario", "options"),
    [
        ("rush-hour", []),
        ("overlapping-failures", ["--seed", "2"]),
        # Above 8 substations the utilization index and the shards choose.
        ("city-scale", ["--policy", "headroom", "--set", "duration_s=40"]),
        # Sampled futures (`proxy.rollout`), off by default: the same draws, the same choices.
        (
            "substation-failure",
            [
                "--policy",
                "headroom",
                "--set",
                "duration_s=450",
                "--set",
                "headroom={rollout_draws: 8}",
            ],
        ),
    ],
)
def test_the_compiled_simulator_gives_the_sources_figures_to_the_byte(
    compiled_site: Path, scenario: str, options: list[str]
) -> None:
    argv = ["-m", "proxy.simulate", str(CHECKOUT / "scenarios" / f"{scenario}.yaml"), "--json"]
    assert run([*argv, *options], compiled_site) == run([*argv, *options], CHECKOUT)


def test_the_choice_benchmark_counts_the_compiled_choice(compiled_site: Path) -> None:
    # What `python -m bench.choice` runs by default, once it has built the core (the sources'
    # run is in tests/bench): from the build's directory, its compiled modules.
    table = run(["-m", "bench.choice", "--repeat", "1"], compiled_site)
    assert "the compiled build; headroom's most over its least" in table
    # The policies; 3/8, booked, futures and raced; the span.
    assert len(table.splitlines()) == 1 + 5 + 4 + 1


CITY_RUNS = (
    "tests/proxy/simulate/test_engine.py::test_city_scale_runs_with_the_index_and_never_overloads"
)


def test_the_services_tests_pass_against_the_compiled_build(compiled_site: Path) -> None:
    # The same tests, through the same real apps and sockets, on the build's modules: its
    # directory is their root, so its modules come first (pyproject's options given again).
    options = ["-o", "asyncio_mode=auto", "-o", "timeout=300", "-p", "no:cacheprovider"]
    # Left out: the two whole city runs (about two minutes). The compiled simulator is held to
    # the sources' figures above, city-scale's first 40 s among them, and the sources run both.
    options += [
        "--deselect",
        f"{CITY_RUNS}[city-scale]",
        "--deselect",
        f"{CITY_RUNS}[city-failures]",
    ]
    run(
        ["-m", "pytest", "-q", *options, "tests/grid", "tests/proxy", "tests/substation"],
        compiled_site,
    )
