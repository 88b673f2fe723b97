"""Serving the proxy: one process, or `--workers N` sharing the port.

With `--workers N`, N processes share the port (SO_REUSEPORT) and the kernel spreads
connections across them. Each worker is a whole proxy with its own view: it counts only its
own requests in flight, like N independent balancer replicas (the simulator's `proxies: N`).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys

import uvloop
from aiohttp import web

from proxy.app import create_app
from proxy.config import ProxyConfig, parse_config


def serve(config: ProxyConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("proxy")
    app = create_app(config)
    # What exists now (modules, the app) lives as long as the process: leave it out of the
    # collector's full passes, which would otherwise walk it every few hundred requests.
    gc.collect()
    gc.freeze()
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        reuse_port=config.workers > 1,
        shutdown_timeout=config.shutdown_timeout_s,
        print=lambda line: log.info("policy %s, pid %d: %s", config.policy, os.getpid(), line),
    )


def main() -> None:
    """`python -m proxy`: the config from flags and env; serve on uvloop."""
    config = parse_config(sys.argv[1:], os.environ)
    if config.workers == 1:
        serve(config)
        return
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=serve, args=(config,)) for _ in range(config.workers)]
    for worker in workers:
        worker.start()

    def stop(*_: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()
    failed = [worker.exitcode for worker in workers if worker.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        sys.exit(f"{len(failed)} worker(s) failed: exit codes {failed}")
