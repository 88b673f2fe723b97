"""`python -m substation`: build the config from flags and env, serve on uvloop."""

from __future__ import annotations

import logging
import os
import sys

from grid.httpio import CannotListen, serve
from substation.app import create_app
from substation.config import parse_config
from substation.store import StateUnusable


def main() -> None:
    config = parse_config(sys.argv[1:], os.environ)
    log = logging.getLogger("substation")
    try:
        app = create_app(config)
    except StateUnusable as error:
        sys.exit(f"python -m substation: {error}")
    try:
        serve(
            app,
            config.host,
            config.port,
            lambda line: log.info("%s: %s kW, %s", config.name, config.capacity_kw, line),
        )
    except CannotListen as error:
        sys.exit(f"python -m substation: {error}")


if __name__ == "__main__":
    main()
