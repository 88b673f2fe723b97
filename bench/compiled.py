"""`python -m bench.compiled DIR`: the project as the image installs it, pure core compiled.

Builds the wheel with `GRID_COMPILE=1` (`setup.py`: mypyc compiles the pure core) from a copy
of this checkout, and unpacks it into DIR. A process started with DIR as its working directory
(`python -m proxy`, `python -m substation`, `python -m proxy.simulate`) imports the compiled
modules: in one directory an extension module comes before its source. `bench.proxy` runs ours
and our substations this way by default, as the image does; `tests/test_compiled.py` holds the
compiled core to the source's figures. Needs mypy, setuptools 77 or later (both in the `dev`
extra) and a C compiler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
# What the wheel is built from: setuptools' packages and the files it reads.
BUILT_FROM = ["pyproject.toml", "setup.py", "README.md"]
BUILT_FROM += ["grid", "proxy", "substation", "stack", "bench"]
LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc")


def build(into: Path) -> Path:
    """Build and unpack the compiled project under `into`; the directory to run it from."""
    source, wheels, site = into / "source", into / "wheels", into / "site"
    source.mkdir(parents=True)
    for name in BUILT_FROM:
        origin = CHECKOUT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=LEFT_OUT)
        else:
            shutil.copy2(origin, source / name)
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation", "--no-deps"]
    argv += ["--wheel-dir", str(wheels), str(source)]
    subprocess.run(
        argv,
        env={**os.environ, "GRID_COMPILE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        check=True,
        timeout=900,
    )
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as unpacked:
        unpacked.extractall(site)
    return site


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.compiled DIR", file=sys.stderr)
        return 2
    site = build(Path(argv[0]))
    print(site)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
