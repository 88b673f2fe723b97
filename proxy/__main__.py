"""`python -m proxy`: build the config from flags and env, serve on uvloop."""

from __future__ import annotations

import logging
import os
import sys

import uvloop
from aiohttp import web

from proxy.app import create_app
from proxy.config import parse_config


def main() -> None:
    config = parse_config(sys.argv[1:], os.environ)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("proxy")
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        shutdown_timeout=config.shutdown_timeout_s,
        print=lambda line: log.info("policy %s: %s", config.policy, line),
    )


if __name__ == "__main__":
    main()
