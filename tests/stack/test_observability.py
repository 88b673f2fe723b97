"""A real Prometheus scrapes the real local stack: every dashboard query returns data, and the
80 % alert goes pending, then firing."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.processes import LocalStack, running_stack
from tests.helpers import free_stack_layout, require_tool

ROOT = Path(__file__).resolve().parents[2]
# Grafana's variables as Grafana fills them at a 1 s scrape interval.
# `$substation` is the dashboard's variable at "All" (its allValue).
GRAFANA_VARIABLES = {
    "$__rate_interval": "10s",
    "$__interval": "1s",
    "$__range": "5m",
    "$substation": ".*",
}


def http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def query(prometheus_url: str, expr: str, at: float | None = None) -> list[Any]:
    parameters = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
    answer = http_json(f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode(parameters))
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


def panel_queries() -> list[str]:
    dashboard = json.loads((ROOT / "grafana/dashboards/grid.json").read_text())
    rules = yaml.safe_load((ROOT / "grafana/provisioning/alerting/rules.yml").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs.append(rules["groups"][0]["rules"][0]["data"][0]["model"]["expr"])
    return [filled(expr) for expr in exprs]


def filled(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    require_tool("prometheus", "prometheus")
    layout = free_stack_layout(spare_ports=1, scrape_interval_s=1.0, poll_interval_s=1.0)
    layout = dataclasses.replace(layout, prometheus_port=layout.proxy_port + 1)
    with running_stack(layout, tmp_path_factory.mktemp("stack")) as running:
        yield running


def charge(url: str, vehicle_id: str, amount_kw: float) -> Any:
    return http_json(f"{url}/charge", {"vehicle_id": vehicle_id, "amount": amount_kw})


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


@pytest.mark.stack
def test_every_dashboard_query_returns_series_while_charges_flow(stack: LocalStack) -> None:
    layout = stack.layout
    for number in range(30):
        charge(layout.proxy_url, f"EV-{number}", 11)
    http_json(f"{layout.proxy_url}/charge", {"vehicle_id": "bad id", "amount": 1})
    # Past the proxy, so that the balance panel has a gap to show.
    charge(f"http://{layout.host}:{layout.first_substation_port + 1}", "EV-direct", 50)
    prometheus_url = str(layout.prometheus_url)
    # Two scrapes after the charges, so that rate() has two samples of every counter.
    wait_for(
        lambda: (
            query(prometheus_url, "sum(current_load)")
            and float(query(prometheus_url, "sum(current_load)")[0]["value"][1]) >= 380
        ),
        15,
        "Prometheus seeing the charges",
    )
    time.sleep(3)
    empty = [expr for expr in panel_queries() if not query(prometheus_url, expr)]
    assert empty == []
    # The balance panel's gap is the rush-hour report's: the substations' own utilizations.
    dashboard = json.loads((ROOT / "grafana/dashboards/grid.json").read_text())
    [balance] = [p for p in dashboard["panels"] if p["title"].startswith("Balance:")]
    at = time.time()
    shares = query(prometheus_url, "current_load / substation_capacity_kw", at)
    utilizations = [float(share["value"][1]) for share in shares]
    [gap] = query(prometheus_url, filled(balance["targets"][0]["expr"]), at)
    assert len(utilizations) == 3
    assert max(utilizations) - min(utilizations) > 0.05  # the 50 kW: 10 % of a substation
    assert float(gap["value"][1]) == pytest.approx(100 * (max(utilizations) - min(utilizations)))
    # The `$substation` variable's choices: label_values(current_load, substation).
    names = http_json(
        f"{prometheus_url}/api/v1/label/substation/values?"
        + urllib.parse.urlencode({"match[]": "current_load"})
    )["data"]
    assert names == ["substation1", "substation2", "substation3"]


@pytest.mark.stack
def test_one_substation_over_80_percent_raises_substation_load_high(stack: LocalStack) -> None:
    layout = stack.layout
    substation1 = f"http://{layout.host}:{layout.first_substation_port}"
    for number in range(5):
        charge(substation1, f"EV-hot-{number}", 85)  # 425 kW of 500, plus what it had
    prometheus_url = str(layout.prometheus_url)

    def state() -> str | None:
        alerts = http_json(f"{prometheus_url}/api/v1/alerts")["data"]["alerts"]
        for alert in alerts:
            if alert["labels"]["alertname"] == "SubstationLoadHigh":
                assert alert["labels"]["substation"] == "substation1"
                return str(alert["state"])
        return None

    assert wait_for(lambda: state() == "pending", 15, "SubstationLoadHigh pending")
    assert wait_for(lambda: state() == "firing", 50, "SubstationLoadHigh firing")
