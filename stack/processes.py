"""The local stack without Docker: substations and the proxy as processes on loopback.

Every process is started here and stopped here, by its PID: SIGTERM first (aiohttp shuts down
gracefully), SIGKILL if it is still there after a bound. Nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stack import prometheus

STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class StackLayout:
    """Where the pieces of the local stack listen (SPEC: 8001-8003 and 8080 by default)."""

    first_substation_port: int = 8001
    proxy_port: int = 8080
    session_seconds: float = 60.0
    poll_interval_s: float = 5.0
    host: str = "127.0.0.1"
    prometheus_port: int | None = 9090  # None: no local Prometheus
    scrape_interval_s: float = 5.0
    locust_port: int | None = None  # None: no Locust web UI
    state_dir: Path | None = None  # where substations keep their sessions (--state)
    substation_capacities_kw: tuple[float, ...] = (500.0, 500.0, 500.0)

    def substations(self) -> list[tuple[str, int, float]]:
        """(name, port, capacity kW) of each substation: substation1, substation2, ..."""
        return [
            (f"substation{index + 1}", self.first_substation_port + index, capacity_kw)
            for index, capacity_kw in enumerate(self.substation_capacities_kw)
        ]

    def substation_urls(self) -> list[str]:
        return [f"http://{self.host}:{port}" for _, port, _ in self.substations()]

    def substation_url(self, name: str) -> str:
        port = next(port for known, port, _ in self.substations() if known == name)
        return f"http://{self.host}:{port}"

    @property
    def proxy_url(self) -> str:
        return f"http://{self.host}:{self.proxy_port}"

    @property
    def locust_url(self) -> str | None:
        return None if self.locust_port is None else f"http://{self.host}:{self.locust_port}"

    @property
    def prometheus_url(self) -> str | None:
        if self.prometheus_port is None:
            return None
        return f"http://{self.host}:{self.prometheus_port}"


@dataclass
class LocalStack:
    layout: StackLayout
    log_dir: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        layout = self.layout
        for name, _, _ in layout.substations():
            self._spawn(name, self.substation_args(name))
        for url in layout.substation_urls():
            wait_until_healthy(url, self.processes)
        self.restart_proxy()
        self._start_prometheus()
        self._start_locust_ui()

    def _start_locust_ui(self) -> None:
        layout = self.layout
        if layout.locust_url is None:
            return
        locustfile = Path(__file__).resolve().parent.parent / "locustfile.py"
        web = ["--web-host", layout.host, "--web-port", str(layout.locust_port)]
        self._spawn(
            "locust", ["-m", "locust", "-f", str(locustfile), "--host", layout.proxy_url, *web]
        )
        wait_until_ready(str(layout.locust_url), self.processes)

    def _start_prometheus(self) -> None:
        layout, binary = self.layout, prometheus.prometheus_binary()
        if layout.prometheus_url is None or binary is None:
            return
        config = prometheus.local_config(
            f"{layout.host}:{layout.proxy_port}",
            [f"{layout.host}:{port}" for _, port, _ in layout.substations()],
            layout.scrape_interval_s,
        )
        path = prometheus.write_config(self.log_dir / "prometheus", config)
        listen = f"{layout.host}:{layout.prometheus_port}"
        self._spawn_command("prometheus", prometheus.command(binary, path, listen))
        wait_until_ready(f"{layout.prometheus_url}/-/ready", self.processes)

    def substation_args(self, name: str) -> list[str]:
        layout = self.layout
        _, port, capacity_kw = next(spec for spec in layout.substations() if spec[0] == name)
        args = ["-m", "substation", "--name", name, "--host", layout.host, "--port", str(port)]
        args += ["--capacity-kw", str(capacity_kw)]
        args += ["--session-seconds", str(layout.session_seconds)]
        if layout.state_dir is not None:
            layout.state_dir.mkdir(parents=True, exist_ok=True)
            args += ["--state", str(layout.state_dir / f"{name}.sqlite")]
        return args

    def kill(self, name: str) -> None:
        """SIGKILL one of our processes, as a crash would, and forget it."""
        for index, (known, process) in enumerate(self.processes):
            if known == name:
                process.kill()
                process.wait()
                del self.processes[index]
                return
        raise KeyError(name)

    def restart_proxy(self) -> None:
        """Start the proxy (again, after `kill("proxy")`) and wait until it serves."""
        layout = self.layout
        proxy = ["-m", "proxy", "--host", layout.host, "--port", str(layout.proxy_port)]
        proxy += ["--substations", ",".join(layout.substation_urls())]
        self._spawn("proxy", [*proxy, "--poll-interval", str(layout.poll_interval_s)])
        wait_until_healthy(layout.proxy_url, self.processes)

    def restart_substation(self, name: str) -> None:
        self._spawn(name, self.substation_args(name))
        wait_until_healthy(self.layout.substation_url(name), self.processes)

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        self._spawn_command(name, [sys.executable, *args])

    def _spawn_command(self, name: str, argv: Sequence[str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        log.close()
        self.processes.append((name, process))

    def stop(self) -> None:
        """SIGTERM everything we started, newest first; SIGKILL what outlives the bound."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


@contextlib.contextmanager
def running_stack(layout: StackLayout, log_dir: Path) -> Iterator[LocalStack]:
    stack = LocalStack(layout, log_dir)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def wait_until_healthy(
    base_url: str, processes: Sequence[tuple[str, subprocess.Popen[bytes]]]
) -> None:
    wait_until_ready(f"{base_url}/healthz", processes)


def wait_until_ready(url: str, processes: Sequence[tuple[str, subprocess.Popen[bytes]]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for name, process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        # A port nobody listens on yet can connect to itself (TCP's simultaneous open: it reads
        # back its own request, "BadStatusLine: GET /healthz"): not ready either.
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_S:g} s")


def free_port_run(length: int) -> int:
    """The first of `length` consecutive free loopback ports."""
    rng = random.Random()
    for _ in range(50):
        first = rng.randrange(20_000, 32_000)  # below Linux's ephemeral ports (32768-60999)
        if all(is_free(port) for port in range(first, first + length)):
            return first
    raise RuntimeError("no run of free ports")


def is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
