"""The deployment files as their own tools read them: promtool, docker-compose, Grafana's JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import require_tool

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "grafana" / "dashboards" / "grid.json"


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "config", "prometheus/prometheus.yml"],
        ["check", "rules", "prometheus/alerts.yml"],
        ["test", "rules", "prometheus/alerts.test.yml"],
    ],
    ids=["check config", "check rules", "test rules"],
)
def test_promtool_accepts_the_prometheus_files(argv: list[str]) -> None:
    finished = run([require_tool("promtool", "prometheus"), *argv])
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_compose_file_passes_debians_docker_compose() -> None:
    finished = run(
        [
            require_tool("docker-compose", "docker-compose"),
            "-f",
            "docker-compose.yml",
            "config",
            "-q",
        ]
    )
    assert finished.returncode == 0, finished.stderr


def test_compose_pins_every_image_and_checks_every_service() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), name


def dashboard_queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_is_pinned_and_every_panel_uses_the_provisioned_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    provisioned = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = provisioned["datasources"][0]["uid"]
    assert dashboard["schemaVersion"] == 39  # Grafana 10.4, the image docker-compose.yml pins
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == uid
    load_percent = next(p for p in panels if p["title"].startswith("Load per substation (%"))
    steps = load_percent["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert {"color": "orange", "value": 80} in steps


def test_grafana_alert_rule_is_the_80_percent_rule() -> None:
    rules = yaml.safe_load((ROOT / "grafana/provisioning/alerting/rules.yml").read_text())
    [rule] = rules["groups"][0]["rules"]
    assert rule["title"] == "SubstationLoadHigh"
    threshold = rule["data"][1]["model"]["conditions"][0]["evaluator"]
    assert threshold == {"type": "gt", "params": [80]}


def test_the_alert_list_shows_prometheus_and_grafana_rules_alike() -> None:
    """A datasource filter on the alert list would hide the Grafana-managed 80 % rule (or,
    set to Grafana, Prometheus's rules); Prometheus's rules show through its datasource."""
    dashboard = json.loads(DASHBOARD.read_text())
    [alert_list] = [panel for panel in dashboard["panels"] if panel["type"] == "alertlist"]
    assert "datasource" not in alert_list["options"]
    assert alert_list["options"]["dashboardAlerts"] is False
    provisioned = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert provisioned["datasources"][0]["jsonData"]["manageAlerts"] is True


def test_the_grafana_rule_is_linked_to_the_load_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rules = yaml.safe_load((ROOT / "grafana/provisioning/alerting/rules.yml").read_text())
    annotations = rules["groups"][0]["rules"][0]["annotations"]
    assert annotations["__dashboardUid__"] == dashboard["uid"]
    [panel] = [p for p in dashboard["panels"] if p["id"] == int(annotations["__panelId__"])]
    assert panel["title"] == "Load per substation (% of capacity)"


def test_the_dashboard_opens_with_a_stat_row_and_filters_by_substation() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    top_row = sorted((p for p in panels if p["gridPos"]["y"] == 0), key=lambda p: p["gridPos"]["x"])
    assert [p["type"] for p in top_row] == ["stat", "stat", "stat"]
    assert [p["title"] for p in top_row] == [
        "Grid utilization",
        "Substations up",
        "Refusals per minute",
    ]
    [variable] = dashboard["templating"]["list"]
    assert variable["name"] == "substation"
    assert variable["query"]["query"] == "label_values(current_load, substation)"
    assert variable["includeAll"] and variable["allValue"] == ".*"
    # Every panel that draws one series per substation follows the variable.
    for panel in panels:
        for target in panel.get("targets", []):
            if "{{substation}}" in target.get("legendFormat", ""):
                assert '$substation"' in target["expr"], panel["title"]


def test_openapi_documents_the_admin_api_and_its_bearer_scheme() -> None:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for action in ("drain", "resume"):
        operation = spec["paths"][f"/admin/substations/{{name}}/{action}"]["post"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "401", "403", "404"} <= set(operation["responses"])
