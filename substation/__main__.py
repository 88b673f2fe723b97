"""`python -m substation`: build the config from flags and env, serve on uvloop."""

from __future__ import annotations

import logging
import os
import sys

from grid.httpio import serve
from substation.app import create_app
from substation.config import parse_config


def main() -> None:
    config = parse_config(sys.argv[1:], os.environ)
    log = logging.getLogger("substation")
    serve(
        create_app(config),
        config.host,
        config.port,
        lambda line: log.info("%s: %s kW, %s", config.name, config.capacity_kw, line),
    )


if __name__ == "__main__":
    main()
