"""The whole microcv pipeline on one machine: `python deploy/local/stack.py up|down|status`.

Kafka and Redis come from services.py; the collector, one consumer worker, the query API and a
static demo site run as background processes of the virtualenv's Python. Every process gets a pid
file and a log under $MICROCV_HOME, so `up` can be run again (what runs is left alone) and `down`
works from another shell. Data survives `down`; `make clean` removes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import services
from services import HOST, REPO, ServiceError

DEADLETTER_TOPIC = "microcv.deadletter.v1"
APP_GRACE_S = 15.0
KAFKA_GRACE_S = 30.0
REDIS_GRACE_S = 15.0
HEALTH_TIMEOUT_S = 30.0
READ_TOKEN = "demo-read-token"  # the demo site's read token in deploy/sites.toml


@dataclass(frozen=True, slots=True)
class Config:
    home: Path
    kafka_port: int
    controller_port: int
    redis_port: int
    collector_port: int
    api_port: int
    demo_port: int
    partitions: int
    topic: str
    sites: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        def port(name: str, default: int) -> int:
            return int(env.get(name, default))

        return cls(
            home=Path(env.get("MICROCV_HOME", REPO / ".run")).resolve(),
            kafka_port=port("MICROCV_KAFKA_PORT", 19092),
            controller_port=port("MICROCV_KAFKA_CONTROLLER_PORT", 19093),
            redis_port=port("MICROCV_REDIS_PORT", 16379),
            collector_port=port("MICROCV_COLLECTOR_PORT", 8601),
            api_port=port("MICROCV_API_PORT", 8602),
            demo_port=port("MICROCV_DEMO_PORT", 8600),
            partitions=int(env.get("MICROCV_PARTITIONS", 6)),
            topic=env.get("MICROCV_TOPIC", "microcv.events.v1"),
            sites=(REPO / env.get("MICROCV_SITES", "deploy/sites.toml")).resolve(),
        )

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    @property
    def collector_url(self) -> str:
        return f"http://{HOST}:{self.collector_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def demo_url(self) -> str:
        return f"http://{HOST}:{self.demo_port}/"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.home / "pids" / f"{name}.pid"

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MICROCV_KAFKA_BOOTSTRAP": self.bootstrap,
            "MICROCV_REDIS_URL": f"redis://{HOST}:{self.redis_port}/0",
            "MICROCV_TOPIC": self.topic,
            "MICROCV_SITES": str(self.sites),
            "MICROCV_COLLECTOR_PORT": str(self.collector_port),
            "MICROCV_API_PORT": str(self.api_port),
        }


@dataclass(frozen=True, slots=True)
class App:
    name: str
    argv: tuple[str, ...]
    health_url: str | None  # None: no HTTP endpoint, "ready" means still running after start-up

    @property
    def marker(self) -> str:
        # /proc cmdline with NULs as spaces ends in a space; the trailing one keeps "-m consumers"
        # from matching "-m consumers.api".
        return " ".join(self.argv[1:]) + " "


def apps(cfg: Config) -> list[App]:
    py = sys.executable
    return [
        App("collector", (py, "-m", "collector"), f"{cfg.collector_url}/healthz"),
        App("consumer", (py, "-m", "consumers"), None),
        App("api", (py, "-m", "consumers.api"), f"{cfg.api_url}/healthz"),
        App(
            "demo",
            (py, "-m", "http.server", "--bind", HOST, "--directory", str(cfg.demo_dir),
             str(cfg.demo_port)),
            cfg.demo_url,
        ),
    ]  # fmt: skip


# -- pid files -------------------------------------------------------------------------------


def read_pid(cfg: Config, name: str, marker: str) -> int | None:
    """The pid recorded for `name` if that process still runs; a stale pid file is removed."""
    path = cfg.pid_file(name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if services.pid_alive(pid, marker):
        return pid
    path.unlink(missing_ok=True)
    return None


def write_pid(cfg: Config, name: str, pid: int) -> None:
    path = cfg.pid_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


# -- up --------------------------------------------------------------------------------------


def up_infra(cfg: Config) -> None:
    services.ensure_system_packages(["redis-server", "java", "mvn"])
    libs = services.ensure_kafka_libs()
    if pid := read_pid(cfg, "kafka", services.KafkaServer.marker):
        print(f"kafka      already running (pid {pid})")
    else:
        kafka = services.KafkaServer(
            cfg.kafka_port, cfg.controller_port, cfg.home / "kafka", libs, cfg.log("kafka"),
            partitions=cfg.partitions,
        )  # fmt: skip
        took = kafka.start()
        assert kafka.pid is not None
        write_pid(cfg, "kafka", kafka.pid)
        print(f"kafka      started in {took:.1f} s (pid {kafka.pid}) on {cfg.bootstrap}")
    if pid := read_pid(cfg, "redis", services.RedisServer.marker):
        print(f"redis      already running (pid {pid})")
    else:
        redis = services.RedisServer(cfg.redis_port, cfg.home / "redis", cfg.log("redis"))
        took = redis.start()
        assert redis.pid is not None
        write_pid(cfg, "redis", redis.pid)
        print(f"redis      started in {took:.1f} s (pid {redis.pid}) on {HOST}:{cfg.redis_port}")
    services.create_topic(cfg.bootstrap, cfg.topic, cfg.partitions)
    services.create_topic(cfg.bootstrap, DEADLETTER_TOPIC, 1)
    print(f"topics     {cfg.topic} ({cfg.partitions} partitions), {DEADLETTER_TOPIC} (1)")


def render_demo(cfg: Config) -> None:
    """Render the demo pages with the tag pasted in (the snippet CLI owns how)."""
    cfg.demo_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "snippet", "--sites", str(cfg.sites), "--site", "demo",
        "--collector", cfg.collector_url, "--paste-into", str(REPO / "deploy" / "demo"),
        "--out", str(cfg.demo_dir),
    ]  # fmt: skip
    log = cfg.log("demo-render")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        code = subprocess.run(
            argv, cwd=REPO, env=cfg.child_env(), stdout=out, stderr=subprocess.STDOUT, timeout=60
        ).returncode
    if code != 0:
        raise ServiceError(
            f"rendering the demo site failed (exit {code}); last lines of {log}:\n"
            f"{services.log_tail(log)}"
        )


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_app(cfg: Config, app: App) -> subprocess.Popen[bytes] | None:
    """Start `app` unless it already runs; returns the new process, or None if left alone."""
    if pid := read_pid(cfg, app.name, app.marker):
        print(f"{app.name:<10} already running (pid {pid})")
        return None
    if app.health_url is not None and http_ok(app.health_url):
        raise ServiceError(f"{app.name}: {app.health_url} is already served by another process")
    proc = services.spawn(app.argv, cfg.log(app.name), env=cfg.child_env(), cwd=REPO)
    write_pid(cfg, app.name, proc.pid)
    return proc


def wait_app(cfg: Config, app: App, proc: subprocess.Popen[bytes]) -> None:
    url = app.health_url
    if url is None:
        # No endpoint to ask: a worker that survives a short while got past its start-up.
        time.sleep(2)
        if proc.poll() is not None:
            raise ServiceError(
                f"{app.name}: exited with code {proc.returncode} during start-up; last lines of "
                f"{cfg.log(app.name)}:\n{services.log_tail(cfg.log(app.name))}"
            )
        print(f"{app.name:<10} running (pid {proc.pid})")
        return
    took = services.wait_until(
        lambda: http_ok(url), HEALTH_TIMEOUT_S, f"{app.name} ({url})", cfg.log(app.name), proc
    )
    print(f"{app.name:<10} ready in {took:.1f} s (pid {proc.pid}) at {url}")


def up_apps(cfg: Config) -> list[str]:
    """Start the Python services; returns the errors of those that did not come up."""
    errors: list[str] = []
    started: list[tuple[App, subprocess.Popen[bytes]]] = []
    for app in apps(cfg):
        try:
            if app.name == "demo" and read_pid(cfg, app.name, app.marker) is None:
                render_demo(cfg)
            if proc := start_app(cfg, app):
                started.append((app, proc))
        except (ServiceError, OSError, subprocess.TimeoutExpired) as exc:
            errors.append(f"{app.name}: {exc}")
    for app, proc in started:
        try:
            wait_app(cfg, app, proc)
        except ServiceError as exc:
            errors.append(str(exc))
            services.terminate(proc.pid, APP_GRACE_S, proc)
            cfg.pid_file(app.name).unlink(missing_ok=True)
    return errors


def up(cfg: Config) -> int:
    try:
        up_infra(cfg)
    except (ServiceError, subprocess.CalledProcessError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    errors = up_apps(cfg)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(
        f"\n  demo site:  {cfg.demo_url}\n"
        f"  dashboard:  {cfg.api_url}/dashboard/  (read token: {READ_TOKEN})\n"
        f"  counters:   curl -H 'Authorization: Bearer {READ_TOKEN}' "
        f"'{cfg.api_url}/v1/sites/demo/counters?window=5m'\n"
        f"  collector:  {cfg.collector_url}/v1/collect (POST beacons; GET /healthz, /metrics)\n"
        f"  logs:       {cfg.home / 'logs'}\n"
        f"  make down to stop ({'some services failed, see above' if errors else 'all up'})"
    )
    return 1 if errors else 0


# -- down, status ----------------------------------------------------------------------------


def stop(cfg: Config, name: str, marker: str, grace: float) -> str:
    """Stop one process; returns the line to print (threads return it rather than interleave)."""
    pid = read_pid(cfg, name, marker)
    if pid is None:
        return f"{name:<10} not running"
    graceful = services.terminate(pid, grace)
    cfg.pid_file(name).unlink(missing_ok=True)
    how = "stopped" if graceful else f"killed after {grace:.0f} s"
    return f"{name:<10} {how} (pid {pid})"


def down(cfg: Config) -> int:
    # Apps first and together (each may take its grace period), then what they depend on.
    with ThreadPoolExecutor() as pool:
        futures = [
            pool.submit(stop, cfg, app.name, app.marker, APP_GRACE_S) for app in reversed(apps(cfg))
        ]
        for future in futures:
            print(future.result())
    print(stop(cfg, "kafka", services.KafkaServer.marker, KAFKA_GRACE_S))
    print(stop(cfg, "redis", services.RedisServer.marker, REDIS_GRACE_S))
    return 0


def status(cfg: Config) -> int:
    where = {
        "kafka": cfg.bootstrap,
        "redis": f"{HOST}:{cfg.redis_port}",
        "collector": cfg.collector_url,
        "consumer": f"topic {cfg.topic}",
        "api": cfg.api_url,
        "demo": cfg.demo_url,
    }
    markers = {
        "kafka": services.KafkaServer.marker,
        "redis": services.RedisServer.marker,
        **{app.name: app.marker for app in apps(cfg)},
    }
    for name, marker in markers.items():
        pid = read_pid(cfg, name, marker)
        state = f"running  pid {pid:<8}" if pid else "stopped" + " " * 15
        print(f"{name:<10} {state} {where[name]}")
    return 0


def main(argv: Sequence[str]) -> int:
    commands = {"up": up, "down": down, "status": status}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: stack.py up|down|status", file=sys.stderr)
        return 2
    return commands[argv[0]](Config.from_env(os.environ))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
