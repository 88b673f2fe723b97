"""The frozen dataclasses built on every charge write their `__init__` out, so that mypyc
compiles it (a generated one stays interpreted in the build: about 0.6 µs a construction
against 0.02). Each written `__init__` must be the one `dataclasses` would generate: the same
parameters in the same order with the same defaults, every field set, still frozen."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from grid.protocol import ChargeRequest, LoadReport
from proxy.attempt import Answered, Ask, Finished
from proxy.charge import ProxyCharge
from proxy.directory import SessionRoute
from proxy.upstream import UpstreamAnswer

WRITTEN_OUT: list[type[Any]] = [
    LoadReport,
    ChargeRequest,
    ProxyCharge,
    UpstreamAnswer,
    SessionRoute,
    Answered,
    Ask,
    Finished,
]


def generated_parameters(cls: type[Any]) -> list[tuple[str, object]]:
    """(name, default) of each parameter `dataclasses` would give this class's `__init__`."""
    return [
        (field.name, field.default)
        for field in dataclasses.fields(cls)
        if field.init and field.default_factory is dataclasses.MISSING
    ]


def written_parameters(cls: type[Any]) -> list[tuple[str, object]]:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
    return [
        (p.name, dataclasses.MISSING if p.default is inspect.Parameter.empty else p.default)
        for p in parameters
    ]


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
def test_the_written_init_is_the_generated_one(cls: type[Any]) -> None:
    assert "__init__" in vars(cls), "no written __init__: this class builds on the slow path"
    assert written_parameters(cls) == generated_parameters(cls)


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
def test_every_field_is_set_and_stays_frozen(cls: type[Any]) -> None:
    names = [field.name for field in dataclasses.fields(cls)]
    # A distinct object per field, so that a field set from the wrong parameter shows.
    given = {name: (name, index) for index, name in enumerate(names)}
    instance = cls(**given)
    assert {name: getattr(instance, name) for name in names} == given
    assert instance == cls(*given.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(instance, names[0], "changed")
