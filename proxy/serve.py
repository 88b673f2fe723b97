"""Serving the proxy: one process, or `--workers N` sharing the port.

With `--workers N`, N processes share the port (SO_REUSEPORT) and the kernel spreads
connections across them. Each worker is a whole proxy with its own view: it counts only its
own requests in flight, like N independent balancer replicas (the simulator's `proxies: N`),
follows every load stream, and gets its own shard (`proxy.shard`) of the proxy's. Unless
`--share-bookings off`, the workers also tell each other what they have in flight and what
they booked, through shared memory (`proxy.siblings`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from dataclasses import replace

from grid.httpio import CannotListen
from grid.httpio import serve as run_service
from proxy.app import create_app
from proxy.config import ProxyConfig, parse_config
from proxy.shard import worker_shard
from proxy.siblings import SiblingBoard, SiblingLink


def serve(config: ProxyConfig, board: SiblingBoard | None = None, number: int = 0) -> None:
    log = logging.getLogger("proxy")
    siblings = None if board is None else SiblingLink(board, number)
    try:
        run_service(
            create_app(config, siblings=siblings),
            config.host,
            config.port,
            lambda line: log.info(
                "policy %s, shard %s, pid %d: %s", config.policy, config.shard, os.getpid(), line
            ),
            reuse_port=config.workers > 1,
            shutdown_timeout_s=config.shutdown_timeout_s,
        )
    except CannotListen as error:
        sys.exit(f"python -m proxy: {error}")


def main() -> None:
    """`python -m proxy`: the config from flags and env; serve on uvloop."""
    config = parse_config(sys.argv[1:], os.environ)
    if config.workers == 1:
        serve(config)
        return
    spawn = multiprocessing.get_context("spawn")
    board = SiblingBoard(spawn, config.workers) if config.share_bookings else None
    workers = [
        spawn.Process(
            target=serve,
            args=(
                replace(
                    config,
                    shard=worker_shard(config.shard, number, config.workers, config.share_bookings),
                ),
                board,
                number,
            ),
        )
        for number in range(config.workers)
    ]
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
