"""The build: plain Python by default; with `GRID_COMPILE=1`, the pure core compiled to C.

The pure core is every module of the charge path that only computes: the balancer and its
views, the `headroom` policy and its outlook, the charge attempt, the session directory, the
substation's ledger and the protocol both services speak. mypyc (from mypy's authors; mypy and
black ship compiled this way) turns their type-checked source into C extensions, about twice
as fast (`bench.path`, docs/performance.md). The source stays the one truth: the same modules
run interpreted in development and in the tests, and `tests/test_compiled.py` builds the
compiled core and holds it to the same figures as the source.

The image builds it (Dockerfile); `GRID_COMPILE=1 pip install --no-build-isolation .` with
mypy and a C compiler does the same anywhere. An editable install (`make`) never compiles:
a stale extension would shadow every later edit of its module.

Left interpreted: whatever awaits (the router, the pool, the apps: their time is aiohttp's
and the sockets', not their own arithmetic),
`proxy.tuning`, which the simulator pickles (mypyc's frozen classes cannot be unpickled),
and the error classes (compiled, a subclass lost the class attributes it sets, such as
`NoHealthySubstation.retry_after_s`: found by the tests too).
"""

from __future__ import annotations

import os

from setuptools import setup

COMPILED_CORE = [
    "grid/seen.py",
    "grid/protocol.py",
    "grid/ledger.py",
    "proxy/health.py",
    "proxy/view.py",
    "proxy/outlook.py",
    "proxy/index.py",
    "proxy/headroom.py",
    "proxy/balancer.py",
    "proxy/attempt.py",
    "proxy/directory.py",
    "proxy/charge.py",
    "proxy/vehicle_line.py",
]


def compiled_core() -> list[object]:
    if os.environ.get("GRID_COMPILE") != "1":
        return []
    # Imported only when compiling: mypy is a build requirement then, and only then.
    from mypyc.build import mypycify  # noqa: PLC0415

    # The project's mypy settings, less the note that sections for modules not compiled go
    # unused (a note, which mypycify would take for a failure).
    options = ["--no-warn-unused-configs", *COMPILED_CORE]
    return list(mypycify(options, opt_level="3"))


if __name__ == "__main__":  # as setuptools runs it; `tests/test_compiled.py` reads the list
    setup(ext_modules=compiled_core())
