"""Simulator scenarios (SPEC section 3): the YAML file as one frozen value, checked on load."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grid.protocol import DEFAULT_REPORT_INTERVAL_S
from proxy.tuning import DEFAULT_TUNING, HeadroomTuning

DEFAULT_LATENCY_S = 0.01


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message says which key is wrong."""


@dataclass(frozen=True, slots=True)
class SubstationSpec:
    name: str
    capacity_kw: float


@dataclass(frozen=True, slots=True)
class Failure:
    substation: str
    at_s: float
    until_s: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    substations: tuple[SubstationSpec, ...]
    session_seconds: float
    poll_interval_s: float
    proxies: int
    duration_s: float
    burst: int  # requests at t=0 (0: none)
    rate: tuple[tuple[float, float], ...]  # piecewise-linear EVs per second
    amount_kw: tuple[float, float]
    min_amount_ratio: float
    failures: tuple[Failure, ...] = ()
    latency_s: float = DEFAULT_LATENCY_S  # one proxy -> substation -> proxy round trip
    max_wait_s: float = 0.0  # what every EV asks for: waiting for room at the proxy
    headroom: HeadroomTuning = DEFAULT_TUNING  # `headroom: {recent_weight: 0.5}` varies it
    load_stream: bool = True  # substations stream their load to every proxy (off: polls alone)
    # Each line of the stream carries the sessions booked lately (`grid.booked`); off: every
    # proxy knows only its own bookings, as before.
    stream_bookings: bool = True
    # Several proxies run with `--shard I/N` each (as `--workers` gives its workers); off: no
    # shards, every proxy choosing among all substations alike.
    shards: bool = True
    report_interval_s: float = DEFAULT_REPORT_INTERVAL_S  # at most one report per this
    # Every proxy runs with `--workers N`: each of its charges goes to one of N balancers, which
    # tell each other their bookings (`proxy.siblings`) unless `share_bookings` is false.
    workers: int = 1
    share_bookings: bool = True

    @property
    def one_request_utilization(self) -> float:
        """The largest request over the smallest capacity: "balanced within one request"."""
        return self.amount_kw[1] / min(spec.capacity_kw for spec in self.substations)

    def rate_at(self, t: float) -> float:
        points = self.rate
        if not points or t < points[0][0]:
            return 0.0
        for (t0, r0), (t1, r1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                return r0 if t1 == t0 else r0 + (r1 - r0) * (t - t0) / (t1 - t0)
        return points[-1][1]

    @property
    def peak_rate(self) -> float:
        return max((rate for _, rate in self.rate), default=0.0)


KEYS = frozenset(
    {
        "substations",
        "substations_generate",
        "session_seconds",
        "poll_interval",
        "proxies",
        "duration_s",
        "arrivals",
        "amount_kw",
        "min_amount_ratio",
        "failures",
        "latency_s",
        "max_wait_s",
        "headroom",
        "load_stream",
        "stream_bookings",
        "shards",
        "report_interval_s",
        "workers",
        "share_bookings",
    }
)


def load_scenario(path: Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """The scenario in `path`, with top-level keys replaced by `overrides` (what-ifs such as
    `{"proxies": 1}`: each checked as the file's own keys are)."""
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not YAML: {error}") from error
    if not isinstance(document, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of keys")
    unknown = sorted(set(overrides or {}) - KEYS)
    if unknown:
        raise ScenarioError(f"no such scenario key: {', '.join(unknown)}")
    document.update(overrides or {})
    return scenario_from(path.stem, document, where=str(path))


def scenario_from(name: str, document: dict[str, Any], where: str | None = None) -> Scenario:
    """A scenario from its keys as a file would hold them (`proxy.simulate.sweep` draws them)."""
    try:
        return _build(name, document)
    except KeyError as error:
        raise ScenarioError(f"{where or name}: missing key {error.args[0]!r}") from error
    except (TypeError, ValueError) as error:
        raise ScenarioError(f"{where or name}: {error}") from error


def _build(name: str, doc: dict[str, Any]) -> Scenario:
    arrivals = _mapping(doc["arrivals"], "arrivals")
    amount_low, amount_high = _pair(doc["amount_kw"], "amount_kw")
    scenario = Scenario(
        name=name,
        substations=_substations(doc),
        session_seconds=_number(doc.get("session_seconds", 60), "session_seconds"),
        poll_interval_s=_number(doc.get("poll_interval", 5), "poll_interval"),
        proxies=_whole(doc.get("proxies", 1), "proxies"),
        duration_s=_number(doc["duration_s"], "duration_s"),
        burst=_whole(arrivals.get("burst", 0), "burst"),
        rate=tuple(
            _pair(point, "a rate point [t_s, EVs per second]")
            for point in _list(arrivals.get("rate", []), "arrivals' rate")
        ),
        amount_kw=(amount_low, amount_high),
        min_amount_ratio=_number(doc.get("min_amount_ratio", 1.0), "min_amount_ratio"),
        failures=tuple(_failure(failure) for failure in _list(doc.get("failures", []), "failures")),
        latency_s=_number(doc.get("latency_s", DEFAULT_LATENCY_S), "latency_s"),
        max_wait_s=_number(doc.get("max_wait_s", 0.0), "max_wait_s"),
        headroom=_tuning(_mapping(doc.get("headroom") or {}, "headroom")),
        load_stream=_flag(doc.get("load_stream", True), "load_stream"),
        stream_bookings=_flag(doc.get("stream_bookings", True), "stream_bookings"),
        shards=_flag(doc.get("shards", True), "shards"),
        report_interval_s=_number(
            doc.get("report_interval_s", DEFAULT_REPORT_INTERVAL_S), "report_interval_s"
        ),
        workers=_whole(doc.get("workers", 1), "workers"),
        share_bookings=_flag(doc.get("share_bookings", True), "share_bookings"),
    )
    _check(scenario)
    return scenario


def _pair(value: object, name: str) -> tuple[float, float]:
    """Two numbers: `[low, high]`, or a rate point `[t_s, rate]`."""
    try:
        first, second = _list(value, name)
        return float(first), float(second)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers, got {value!r}") from None


def _number(value: object, name: str) -> float:
    """A number, or text that reads as one (YAML 1.1 reads `1e3` as text); `true` is
    refused, not read as 1."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a number, got {value!r}")


def _mapping(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping of keys, got {value!r}")
    return value


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list, got {value!r}")
    return value


def _failure(failure: object) -> Failure:
    if not isinstance(failure, dict) or not {"substation", "at", "until"} <= set(failure):
        raise ValueError(f"a failure is {{substation: NAME, at: S, until: S}}, got {failure!r}")
    at_s, until_s = (
        _number(failure["at"], "a failure's at"),
        _number(failure["until"], "a failure's until"),
    )
    return Failure(str(failure["substation"]), at_s, until_s)


def _whole(value: object, name: str) -> int:
    """A count: a whole number (2.5 proxies or `true` is refused, not truncated)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


# Tunings that divide or count choices: 0 has no meaning (`lookahead_s` 0 is greedy).
_TUNING_ABOVE_ZERO = frozenset({"recent_fade_s", "herd_choices", "herd_share", "own_choices"})


def _tuning(keys: Mapping[str, Any]) -> HeadroomTuning:
    """`HeadroomTuning` with the named fields replaced, each a positive number of its type."""
    fields = {field.name: field for field in dataclasses.fields(HeadroomTuning)}
    unknown = sorted(set(keys) - set(fields))
    if unknown:
        raise ValueError(f"no such headroom tuning: {', '.join(unknown)} (known: {sorted(fields)})")
    values: dict[str, Any] = {}
    for name, value in keys.items():
        wanted = int if fields[name].type in (int, "int") else float
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value < math.inf
        ):
            raise ValueError(f"headroom {name} must be a finite number >= 0, got {value!r}")
        if wanted is int and value != int(value):
            raise ValueError(f"headroom {name} must be a whole number, got {value!r}")
        if name in _TUNING_ABOVE_ZERO and value == 0:
            raise ValueError(f"headroom {name} must be more than 0, got {value!r}")
        values[name] = wanted(value)
    return dataclasses.replace(DEFAULT_TUNING, **values)


def _substations(doc: dict[str, Any]) -> tuple[SubstationSpec, ...]:
    if "substations_generate" in doc:
        generate = _mapping(doc["substations_generate"], "substations_generate")
        low, high = _pair(generate["capacity_kw"], "substations_generate capacity_kw")
        rng = random.Random(generate.get("seed", 0))
        return tuple(
            SubstationSpec(f"sub{number:04d}", round(rng.uniform(low, high), 1))
            for number in range(_whole(generate["count"], "substations_generate count"))
        )
    return tuple(_substation(spec) for spec in _list(doc["substations"], "substations"))


def _substation(spec: object) -> SubstationSpec:
    if not isinstance(spec, dict) or not {"name", "capacity_kw"} <= set(spec):
        raise ValueError(f"a substation is {{name: NAME, capacity_kw: KW}}, got {spec!r}")
    return SubstationSpec(str(spec["name"]), _number(spec["capacity_kw"], "capacity_kw"))


def _check(scenario: Scenario) -> None:
    _check_times(scenario)
    names = [spec.name for spec in scenario.substations]
    if not names or len(set(names)) != len(names):
        raise ValueError("substations must be a non-empty list of distinct names")
    if any(spec.capacity_kw <= 0 for spec in scenario.substations):
        raise ValueError("every capacity_kw must be more than 0")
    if not 0 < scenario.amount_kw[0] <= scenario.amount_kw[1] <= 350:
        raise ValueError("amount_kw must be [low, high] within (0, 350]")
    if not 0 < scenario.min_amount_ratio <= 1:
        raise ValueError("min_amount_ratio must be in (0, 1]")
    if scenario.proxies < 1 or scenario.duration_s <= 0 or scenario.latency_s < 0:
        raise ValueError("proxies >= 1, duration_s > 0 and latency_s >= 0 are needed")
    if not 1 <= scenario.workers <= 64:
        raise ValueError("workers must be between 1 and 64")
    unknown = [
        failure.substation for failure in scenario.failures if failure.substation not in names
    ]
    if unknown:
        raise ValueError(
            f"a failure names {unknown[0]!r}, not a substation of the scenario ({_named(names)})"
        )
    if not 0 < scenario.report_interval_s <= 10:
        raise ValueError("report_interval_s must be in (0, 10]")
    if not 0 <= scenario.max_wait_s <= 300:
        raise ValueError("max_wait_s must be between 0 and 300")


def _named(names: list[str]) -> str:
    """The scenario's substation names for a message: all of a few, the ends of many
    (`substations_generate` names them sub0000, sub0001, ...)."""
    if len(names) <= 6:
        return ", ".join(names)
    return f"{', '.join(names[:3])}, ... {names[-1]}"


def _check_times(scenario: Scenario) -> None:
    """Numbers a run could not end with (one not finite; polls every 0 s ran forever) or
    that mean nothing (a failure that ends before it starts)."""
    numbers = [spec.capacity_kw for spec in scenario.substations]
    numbers += [scenario.session_seconds, scenario.poll_interval_s, scenario.duration_s]
    numbers += [scenario.latency_s, scenario.max_wait_s, scenario.report_interval_s]
    numbers += [*scenario.amount_kw, scenario.min_amount_ratio]
    numbers += [number for point in scenario.rate for number in point]
    numbers += [time for failure in scenario.failures for time in (failure.at_s, failure.until_s)]
    if not all(math.isfinite(number) for number in numbers):
        raise ValueError("every number must be finite")
    if scenario.session_seconds <= 0 or scenario.poll_interval_s <= 0:
        raise ValueError("session_seconds and poll_interval must be more than 0")
    times = [time for time, _ in scenario.rate]
    if any(time < 0 for time in times) or times != sorted(times):
        raise ValueError("arrivals' rate points must be in order of time, from 0")
    if any(rate < 0 for _, rate in scenario.rate) or scenario.burst < 0:
        raise ValueError("arrivals' rates and burst must not be negative")
    if any(not 0 <= failure.at_s < failure.until_s for failure in scenario.failures):
        raise ValueError("a failure is down from `at` (0 or later) to a later `until`")
