"""A local Prometheus for the local stack: the same alert rules, targets on loopback.

Started only when Debian's `prometheus` binary is on the PATH; its UI is where the dashboard's
queries can be tried without Docker and Grafana.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

RULES_PATH = Path(__file__).resolve().parent.parent / "prometheus" / "alerts.yml"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def local_config(
    proxy_target: str, substation_targets: list[str], scrape_interval_s: float
) -> dict[str, Any]:
    interval = f"{scrape_interval_s:g}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES_PATH)],
        "scrape_configs": [
            {"job_name": "proxy", "static_configs": [{"targets": [proxy_target]}]},
            {"job_name": "substations", "static_configs": [{"targets": substation_targets}]},
        ],
    }


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def command(binary: str, config_path: Path, listen: str) -> list[str]:
    return [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={config_path.parent / 'data'}",
        f"--web.listen-address={listen}",
        "--storage.tsdb.retention.time=1d",
    ]
