"""The build: plain Python by default; with `GRID_COMPILE=1`, the charge path compiled to C.

Compiled (`COMPILED_CORE`): the pure core, every module of the charge path that only computes
(the balancer and its views, the `headroom` policy and its outlook, the index, the charge
attempt, the session directory, the substation's ledger, the protocol both services speak),
and what drives it: `POST /charge`'s handler, the router and the pool (compiled coroutines).
mypyc, from mypy's authors (mypy and black ship compiled this way), turns the same
type-checked source into C extensions: our own work per charge halves (`bench.path`,
docs/performance.md). The source stays the one truth: it runs interpreted in development and
in the tests, and `tests/test_compiled.py` builds the wheel and holds it to the source's
figures and to every test of the services.

The image builds it (Dockerfile); `GRID_COMPILE=1 pip install --no-build-isolation .` with
mypy and a C compiler does the same anywhere. `make` installs editable and without it: in
an editable install a stale extension would shadow every later edit of its module.

Left interpreted: the apps and the background loops (mypyc has no async generators, which
`cleanup_ctx` takes: so the proxy's charge handler is a module of its own, `proxy.relay`),
the hold and the wait queue (mypyc refused `proxy/holding.py`, and the compiled generic class
of `proxy/waiting.py` failed at import), `proxy.tuning` (the simulator pickles it, and mypyc's
frozen classes cannot be unpickled) and the error classes (compiled, a subclass lost the class
attributes it sets, `NoHealthySubstation.retry_after_s`, and a 503 became a 500: found by the
tests).
"""

from __future__ import annotations

import os

from setuptools import setup

COMPILED_CORE = [
    "grid/seen.py",
    "grid/session_ids.py",
    "grid/booked.py",
    "grid/protocol.py",
    "grid/ledger.py",
    "proxy/health.py",
    "proxy/view.py",
    "proxy/outlook.py",
    "proxy/index.py",
    "proxy/largest.py",
    "proxy/headroom.py",
    "proxy/rollout.py",
    "proxy/baselines.py",
    "proxy/balancer.py",
    "proxy/attempt.py",
    "proxy/directory.py",
    "proxy/charge.py",
    "proxy/vehicle_line.py",
    # The charge path's async shell: the handler, the router and its keep-alive pool, the
    # counters, and the services' shared HTTP side (body reading, errors, the hot route).
    "proxy/relay.py",
    "grid/httpio.py",
    "proxy/router.py",
    "proxy/pool.py",
    "proxy/upstream.py",
    "proxy/metrics.py",
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
