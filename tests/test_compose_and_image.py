"""docker-compose.yml and the service image as a user meets them: the Compose specification's
schema, names, restarts, one Locust version, and an image with locked run-time dependencies."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "service.lock"


def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return services


def project() -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return table


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    """Compose v2 reads the Compose specification; Debian's docker-compose 1.29 is checked
    beside (tests/test_deploy_configs.py). The schema is the one check-jsonschema vendors."""
    check = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert check is not None, "check-jsonschema is a dev dependency"
    finished = subprocess.run(
        [check, "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_services_restart_and_the_local_image_is_never_pulled() -> None:
    services = compose()["services"]
    for name in ("substation", "proxy", "prometheus", "grafana"):
        assert services[name]["restart"] == "unless-stopped", name
    local = [s for s in services.values() if s["image"] == "smart-grid-load-balancer:local"]
    assert {s["pull_policy"] for s in local} <= {"build", "never"}
    assert len(local) == 2


def test_substation_replicas_are_named_by_their_service() -> None:
    substation = compose()["services"]["substation"]
    assert substation["environment"]["COMPOSE_SERVICE"] == "substation"
    assert "SUBSTATION_NAME" not in substation["environment"]  # one name for every replica


def test_rush_shape_comes_from_the_environment() -> None:
    for name in ("locust-master", "locust-worker"):
        environment = compose()["services"][name]["environment"]
        assert environment["RUSH_SHAPE"] == "${RUSH_SHAPE:-rush}", name


def test_one_locust_version_everywhere() -> None:
    pin = next(Requirement(r) for r in project()["optional-dependencies"]["stack"] if "locust" in r)
    [version] = [spec.version for spec in pin.specifier if spec.operator == "=="]
    assert importlib.metadata.version("locust") == version  # what the tests run
    for name in ("locust-master", "locust-worker"):
        assert compose()["services"][name]["image"] == f"locustio/locust:{version}", name


def test_the_image_installs_the_locked_run_time_dependencies_alone() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --no-deps -r requirements/service.lock" in dockerfile
    # The project itself: its wheel, the pure core compiled (setup.py) in a stage of its own,
    # whose compiler and mypy never reach the image.
    assert "GRID_COMPILE=1 pip wheel --no-cache-dir --no-deps --no-build-isolation" in dockerfile
    image = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "pip install --no-cache-dir --no-deps /wheels/*.whl" in image
    for build_only in ("compile.lock", "gcc", "mypy", "COPY grid", "COPY proxy"):
        assert build_only not in image, build_only
    for tool_only in ("stack", "bench", "locust", "matplotlib"):
        assert not re.search(rf"COPY {tool_only}\b|{tool_only}==", dockerfile), tool_only
    pins = locked()
    for line in project()["dependencies"]:
        requirement = Requirement(line)
        version = pins[canonical(requirement.name)]
        assert requirement.specifier.contains(version), (requirement, version)
    assert "locust" not in pins and "matplotlib" not in pins


def test_a_bare_locust_run_is_aimed_at_the_local_proxy() -> None:
    # In a process of its own: importing locust patches the standard library (gevent).
    finished = subprocess.run(
        [sys.executable, "-c", "import locustfile; print(locustfile.EvDriver.host)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    assert finished.stdout.strip() == "http://127.0.0.1:8080"


def test_the_readmes_first_screen_starts_compose_and_finds_every_ui() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:45])
    assert "docker compose up --build" in first_screen
    for port in (8080, 3000, 9090, 8089):  # proxy, Grafana, Prometheus, Locust
        assert f"http://localhost:{port}" in first_screen
    published = {
        port.split(":")[0]
        for service in compose()["services"].values()
        for port in service.get("ports", [])
    }
    assert published == {"8080", "3000", "9090", "8089"}
    assert first_screen.index("make demo") < first_screen.index("docker compose up --build")
