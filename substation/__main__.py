"""`python -m substation`: build the config from flags and env, serve on uvloop."""

from __future__ import annotations

import gc
import logging
import os
import sys

import uvloop
from aiohttp import web

from substation.app import create_app
from substation.config import parse_config


def main() -> None:
    config = parse_config(sys.argv[1:], os.environ)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(config)
    # Modules and the app live as long as the process: keep them out of full collections.
    gc.collect()
    gc.freeze()
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=lambda line: logging.getLogger("substation").info(
            "%s: %s kW, %s", config.name, config.capacity_kw, line
        ),
    )


if __name__ == "__main__":
    main()
