"""The simulator's outputs: a table per policy, JSON, and a plot of utilization over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxy.simulate.measure import ALERT_UTILIZATION, Trace

COLUMNS = (
    ("policy", "{:<18}", 18),
    ("requests", "{:>9}", 9),
    ("accepted", "{:>9}", 9),
    ("curtailed", "{:>10}", 10),
    ("rejected", "{:>9}", 9),
    ("interrupted", "{:>12}", 12),
    ("false_rejects", "{:>14}", 14),
    ("retries", "{:>8}", 8),
    ("spread_p95", "{:>11.3f}", 11),
    ("max_spread", "{:>11.3f}", 11),
    ("needless_alert_s", "{:>17.0f}", 17),
    ("overload_s", "{:>11.0f}", 11),
)


def format_table(scenario_name: str, results: dict[str, dict[str, Any]], one_request: float) -> str:
    header = "".join(
        f"{name:<{width}}" if index == 0 else f"{name:>{width}}"
        for index, (name, _, width) in enumerate(COLUMNS)
    )
    rows = [f"scenario {scenario_name} (one request = {one_request:.3f} of a capacity)", header]
    for policy, result in results.items():
        values = {"policy": policy, **result}
        rows.append("".join(form.format(values[name]) for name, form, _ in COLUMNS))
    return "\n".join(rows)


def plot(path: Path, scenario_name: str, runs: dict[str, Trace]) -> None:
    """One panel per policy: utilization of each substation over time, with 80 % and 100 %."""
    # Loaded only when a plot is asked for: it is slow to import and tables need none of it.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(
        len(runs), 1, figsize=(10, 2.6 * len(runs)), sharex=True, squeeze=False
    )
    for axis, (policy, measured) in zip(axes[:, 0], runs.items(), strict=True):
        lines = measured.utilization
        for name, shares in list(lines.items())[:12]:  # a city's 1,000 lines say nothing
            percent = [None if share is None else 100 * share for share in shares]
            axis.plot(measured.times, percent, linewidth=1, label=name)
        axis.axhline(100 * ALERT_UTILIZATION, color="orange", linestyle="--", linewidth=1)
        axis.axhline(100, color="red", linewidth=1)
        axis.set_ylim(0, 110)
        axis.set_ylabel("% of capacity")
        axis.set_title(f"{scenario_name}: {policy}", fontsize=10)
        if len(lines) <= 12:
            axis.legend(loc="upper left", fontsize=7, ncol=min(6, len(lines)))
    axes[-1, 0].set_xlabel("virtual time (s)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
