"""The pieces a benchmark or a drill runs: its own Kafka and Redis, and real app processes.

Kafka and Redis come from deploy/local/services.py on free ports under one run directory, so a
benchmark never touches `make up`'s stack or the test session's servers. The collector, the worker
and the query API run as the real entry points (`python -m collector`, ...) with their settings in
the environment, exactly as deploy/local/stack.py and tests/e2e start them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench import REPO
from bench.bare import API_BODY_ENV

import services

SITE = "bench"
READ_TOKEN = "bench-read-token"
Server = Literal["uvicorn", "granian"]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Proc:
    """One child process (in its own process group) with its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_http(self, timeout: float = 30.0) -> float:
        return services.wait_until(
            lambda: http_ok(f"{self.url}/healthz"), timeout, self.name, self.log, self.popen
        )

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM, SIGKILL after `grace`; True when it stopped within the grace period."""
        return services.terminate(self.pid, grace, self.popen)

    def kill(self) -> None:
        services.terminate(self.pid, 0, self.popen, first=signal.SIGKILL)

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)


@dataclass
class Infra:
    """Kafka + Redis of one run, and the processes started against them."""

    root: Path
    kafka: services.KafkaServer
    redis: services.RedisServer
    procs: list[Proc] = field(default_factory=list)
    keep: bool = False  # keep the run directory (logs, data) on exit, e.g. after a failed drill

    @property
    def sites_path(self) -> Path:
        return self.root / "sites.toml"

    def topic(self, partitions: int = 6, prefix: str = "bench") -> str:
        name = f"{prefix}.events.{uuid.uuid4().hex[:8]}"
        services.create_topic(self.kafka.bootstrap, name, partitions)
        services.create_topic(self.kafka.bootstrap, f"{name}.dead", 1)
        return name

    def env(self, topic: str, group: str = "", **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MICROCV_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "MICROCV_REDIS_URL": self.redis.url,
            "MICROCV_TOPIC": topic,
            "MICROCV_DEAD_LETTER_TOPIC": f"{topic}.dead",
            "MICROCV_GROUP": group or f"bench-{uuid.uuid4().hex[:8]}",
            "MICROCV_SITES": str(self.sites_path),
            # One load generator is one client IP: the per-client and per-site rate limits
            # would measure themselves, not the pipeline.
            "MICROCV_CLIENT_RATE": "0",
            "MICROCV_SITE_RATE": "0",
            "MICROCV_SPOOL_DIR": str(self.root / "spool"),
            **extra,
        }

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str], url: str = "") -> Proc:
        log = self.root / "logs" / f"{name}-{len(self.procs)}.log"
        proc = Proc(name, services.spawn(argv, log, env=env, cwd=REPO), log, url)
        self.procs.append(proc)
        return proc

    def collector(
        self, env: Mapping[str, str], server: Server = "uvicorn", port: int = 0, workers: int = 1
    ) -> Proc:
        """The real collector: `python -m collector` (uvicorn), or the same app under granian;
        `workers` processes on the port (MICROCV_COLLECTOR_WORKERS)."""
        port = port or services.free_port()
        env = {
            **env,
            "MICROCV_COLLECTOR_PORT": str(port),
            "MICROCV_COLLECTOR_WORKERS": str(workers),
        }
        if server == "uvicorn":
            argv = [sys.executable, "-m", "collector"]
        else:
            argv = granian_argv("bench.apps:collector", port, factory=True, workers=workers)
        proc = self.spawn(f"collector-{server}", argv, env, f"http://{services.HOST}:{port}")
        proc.wait_http()
        return proc

    def bare_collector(self, server: Server = "uvicorn", workers: int = 1) -> Proc:
        """The bare reference: a Starlette endpoint answering 204, on the same server settings
        (the same number of worker processes included)."""
        port = services.free_port()
        if server == "uvicorn":
            argv = uvicorn_argv("bench.bare:collect_app", port, workers=workers)
        else:
            argv = granian_argv("bench.bare:collect_app", port, workers=workers)
        proc = self.spawn(f"bare-{server}", argv, os.environ, f"http://{services.HOST}:{port}")
        proc.wait_http()
        return proc

    def worker(self, env: Mapping[str, str], *, burst: bool = False) -> Proc:
        argv = [sys.executable, "-m", "consumers", *(["--burst"] if burst else [])]
        return self.spawn("worker", argv, env)

    def api(self, env: Mapping[str, str]) -> Proc:
        port = services.free_port()
        env = {**env, "MICROCV_API_PORT": str(port)}
        proc = self.spawn(
            "api", [sys.executable, "-m", "consumers.api"], env, f"http://{services.HOST}:{port}"
        )
        proc.wait_http()
        return proc

    def bare_api(self, body: str) -> Proc:
        """The bare reference of the query API: `body` on the counters path, no Redis."""
        port = services.free_port()
        argv = uvicorn_argv("bench.bare:api_app", port)
        env = {**os.environ, API_BODY_ENV: body}
        proc = self.spawn("bare-api", argv, env, f"http://{services.HOST}:{port}")
        proc.wait_http()
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


def uvicorn_argv(app: str, port: int, workers: int = 1) -> list[str]:
    # The settings collector/__main__.py gives uvicorn.
    return [
        sys.executable, "-m", "uvicorn", app, "--host", services.HOST, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        "--workers", str(workers),
    ]  # fmt: skip


def granian_argv(app: str, port: int, *, factory: bool = False, workers: int = 1) -> list[str]:
    granian = str(Path(sys.executable).with_name("granian"))
    return [
        granian, "--interface", "asgi", "--host", services.HOST, "--port", str(port),
        "--workers", str(workers), "--loop", "uvloop", "--no-ws", "--log-level", "warning",
        *(["--factory"] if factory else []), app,
    ]  # fmt: skip


SITES_TOML = f"""
[sites.{SITE}]
domains = ["localhost", "127.0.0.1", "shop.example.com"]
read_tokens = ["{READ_TOKEN}"]
"""


@contextlib.contextmanager
def infra(keep: bool = False) -> Iterator[Infra]:
    """Start Kafka and Redis of one run on free ports; stop them and every child on exit."""
    services.ensure_system_packages(["redis-server", "java", "mvn"])
    libs = services.ensure_kafka_libs()
    root = Path(tempfile.mkdtemp(prefix="microcv-bench-"))
    (root / "sites.toml").write_text(SITES_TOML)
    kafka = services.KafkaServer(
        services.free_port(), services.free_port(), root / "kafka", libs, root / "kafka.log"
    )
    redis = services.RedisServer(services.free_port(), root / "redis", root / "redis.log")
    run = Infra(root, kafka, redis)
    try:
        redis.start()
        kafka.start()
        yield run
    finally:
        run.stop_all()
        kafka.stop()
        redis.stop()
        if keep or run.keep:
            print(f"run directory kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
