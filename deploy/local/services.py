"""Real Kafka and Redis servers for the local stack and the test fixtures, without Docker.

Kafka runs from jars that Maven resolves once from deploy/kafka/pom.xml; Redis is the Debian
package. Both run as child processes in their own process group, logging to a file, and are only
reported as started once they answer a real request (a Kafka Metadata request, a Redis PING), so
callers never race a half-started server. Standard library only, so that it can run before the
virtualenv exists; aiokafka is imported lazily for topic creation.

Run as a script: `python deploy/local/services.py ensure` installs the system packages and resolves
the Kafka jars (what `make test` needs before pytest starts).
"""

from __future__ import annotations

import abc
import asyncio
import base64
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from processes import (
    HOST,
    ServiceError,
    free_port,
    log_tail,
    pid_alive,
    port_open,
    spawn,
    terminate,
    wait_until,
)

# Re-exported: the stack and the test fixtures use services as their one entry point.
__all__ = [
    "HOST",
    "KafkaServer",
    "RedisServer",
    "ServiceError",
    "create_topic",
    "create_topic_async",
    "ensure_kafka_libs",
    "ensure_system_packages",
    "free_port",
    "log_tail",
    "pid_alive",
    "spawn",
    "terminate",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[2]
KAFKA_POM = REPO / "deploy" / "kafka" / "pom.xml"
KAFKA_LOG4J = REPO / "deploy" / "kafka" / "log4j2.properties"
DEFAULT_CACHE_DIR = REPO / ".cache" / "kafka"

# Command (or absolute path) that proves a package is installed -> the Debian package providing it.
SYSTEM_PACKAGES: Mapping[str, str] = {
    "redis-server": "redis-server",
    "/usr/bin/chromium": "chromium",
    "java": "openjdk-17-jre-headless",
    "mvn": "maven",
}


# -- system packages and Kafka jars ----------------------------------------------------------


def _installed(probe: str) -> bool:
    return Path(probe).exists() if probe.startswith("/") else shutil.which(probe) is not None


def ensure_system_packages(probes: Iterable[str] = tuple(SYSTEM_PACKAGES)) -> None:
    """Install the Debian packages behind `probes` (keys of SYSTEM_PACKAGES) that are missing."""
    missing = [SYSTEM_PACKAGES.get(p, p) for p in probes if not _installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise ServiceError(
            "missing system packages; install them first: "
            f"sudo apt-get install -y --no-install-recommends {' '.join(missing)}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing system packages: {' '.join(missing)}", file=sys.stderr, flush=True)
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True, env=env
    )


def ensure_kafka_libs(cache_dir: Path = DEFAULT_CACHE_DIR, pom: Path = KAFKA_POM) -> Path:
    """Resolve the broker's jars into `cache_dir/libs` with Maven, unless the pom is unchanged.

    A stamp file holds the hash of the pom the jars came from. Maven's own repository (~/.m2)
    is cached between runs, so a re-resolve after a pom change downloads only what is new.
    """
    libs = cache_dir / "libs"
    stamp = cache_dir / "libs.stamp"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Parallel callers (make test, several pytest sessions) must not run Maven over each other.
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text().strip() == digest and any(libs.glob("*.jar")):
            return libs
        if shutil.which("mvn") is None:
            ensure_system_packages(["java", "mvn"])
        staging = cache_dir / "libs.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        started = time.monotonic()
        print(f"resolving Kafka jars from {pom} ...", file=sys.stderr, flush=True)
        result = subprocess.run(
            [
                "mvn", "-q", "-B", "-f", str(pom),
                "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if result.returncode != 0 or not any(staging.glob("*.jar")):
            raise ServiceError(
                f"mvn dependency:copy-dependencies failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        stamp.write_text(digest + "\n")
        took = time.monotonic() - started
        print(f"Kafka jars resolved in {took:.1f} s", file=sys.stderr, flush=True)
        return libs


# -- Kafka -----------------------------------------------------------------------------------


def _kafka_metadata_ready(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    """Send a Metadata v4 request (the oldest Kafka 4 accepts) and check a broker is listed.

    An open port is not enough: a KRaft broker accepts connections before it is unfenced and
    answers with an empty broker list until then.
    """
    client_id = b"microcv-probe"
    header = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id
    body = struct.pack(">ib", -1, 0)  # all topics (null array), no auto-creation
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exact(sock, 4))[0]
            payload = _recv_exact(sock, size)
    except (OSError, struct.error):
        return False
    # correlation id, throttle time, then the broker array's length
    _correlation, _throttle, brokers = struct.unpack_from(">iii", payload, 0)
    return bool(brokers > 0)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise OSError("connection closed")
        chunks += chunk
    return bytes(chunks)


def _cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):  # would be read as an option by the storage tool
            return cid


class _ChildServer(abc.ABC):
    """What Kafka and Redis share: one child process, stopped cleanly or killed, restartable."""

    stop_grace: float = 15.0
    start_timeout: float = 30.0

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @abc.abstractmethod
    def start(self, timeout: float | None = None) -> float:
        """Start the server and wait until it answers; each server says how. Returns seconds."""

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, SIGKILL after `timeout` s (default `stop_grace`). Safe to repeat."""
        if self._proc is not None:
            grace = self.stop_grace if timeout is None else timeout
            terminate(self._proc.pid, grace, self._proc)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would (for failure drills)."""
        if self._proc is not None:
            terminate(self._proc.pid, 0, self._proc, first=signal.SIGKILL)
            self._proc = None

    def restart(self, timeout: float | None = None) -> float:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class KafkaServer(_ChildServer):
    """A single-node KRaft Kafka (broker and controller in one JVM) on 127.0.0.1."""

    stop_grace = 30.0
    start_timeout = 60.0

    marker = "kafka.Kafka"

    def __init__(
        self,
        port: int,
        controller_port: int,
        data_dir: Path,
        libs: Path,
        log_path: Path,
        partitions: int = 6,
        heap: str = "512m",
    ) -> None:
        self.port = port
        self.controller_port = controller_port
        self.data_dir = data_dir
        self.libs = libs
        self.log_path = log_path
        self.partitions = partitions
        self.heap = heap
        super().__init__()

    @classmethod
    def on_free_ports(cls, root: Path) -> KafkaServer:
        """A broker of its own for a test or a drill: free ports, data and log under `root`."""
        return cls(
            free_port(), free_port(), root / "kafka", ensure_kafka_libs(), root / "kafka.log"
        )

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java", f"-Xmx{self.heap}", "-cp", f"{self.libs}/*",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}", main, *args,
        ]  # fmt: skip

    def _write_config(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "data"),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def start(self, timeout: float | None = None) -> float:
        timeout = self.start_timeout if timeout is None else timeout
        """Format the storage on first start, launch the broker, wait until it serves metadata.

        Returns the seconds the broker took to become ready.
        """
        if self.running:
            return 0.0
        for port in (self.port, self.controller_port):
            if port_open(port):
                raise ServiceError(f"Kafka: port {port} is already in use by another process")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data_dir / "data" / "meta.properties").exists():
            fmt = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", _cluster_id(),
                           "-c", str(config)),
                capture_output=True,
                text=True,
            )  # fmt: skip
            if fmt.returncode != 0:
                raise ServiceError(f"Kafka storage format failed:\n{fmt.stdout}{fmt.stderr}")
        self._proc = spawn(self._java("kafka.Kafka", str(config)), self.log_path)
        try:
            return wait_until(
                lambda: _kafka_metadata_ready(self.port),
                timeout,
                f"Kafka on {self.bootstrap}",
                self.log_path,
                self._proc,
                interval=0.25,
            )
        except BaseException:
            self.kill()
            raise


async def create_topic_async(
    bootstrap: str, topic: str, partitions: int, retry_for: float = 30.0
) -> None:
    """Create `topic` with replication factor 1; an existing topic is fine.

    Retriable broker errors (a controller still settling) are retried for `retry_for` s.
    """
    # Lazy: this module must import without the virtualenv's packages.
    from aiokafka.admin import (
        AIOKafkaAdminClient,
        NewTopic,
    )

    topic_already_exists = 36
    deadline = time.monotonic() + retry_for
    admin: Any = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), retry_for)
    try:
        while True:
            response: Any = await asyncio.wait_for(
                admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=10_000), 15
            )
            errors = [(name, code, rest) for name, code, *rest in response.topic_errors]
            failed = [e for e in errors if e[1] not in (0, topic_already_exists)]
            if not failed:
                return
            # The controller may still be settling right after start; such errors are retriable.
            if time.monotonic() >= deadline:
                raise ServiceError(f"creating topic {topic} failed: {failed}")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0) -> None:
    """Blocking form of `create_topic_async`, for scripts and synchronous fixtures."""
    asyncio.run(create_topic_async(bootstrap, topic, partitions, retry_for=timeout))


# -- Redis -----------------------------------------------------------------------------------


def _redis_ping(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """RESP PING; a Redis still loading its append-only file answers -LOADING, not +PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(_ChildServer):
    """redis-server on 127.0.0.1 with an append-only file fsynced every second, no RDB snapshots."""

    marker = "redis-server"

    def __init__(self, port: int, data_dir: Path, log_path: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.log_path = log_path
        super().__init__()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", HOST, "--dir", str(self.data_dir),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--daemonize", "no", "--protected-mode", "no",
        ]  # fmt: skip

    def start(self, timeout: float | None = None) -> float:
        timeout = self.start_timeout if timeout is None else timeout
        if self.running:
            return 0.0
        if port_open(self.port):
            raise ServiceError(f"Redis: port {self.port} is already in use by another process")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn(self.argv(), self.log_path)
        try:
            return wait_until(
                lambda: _redis_ping(self.port),
                timeout,
                f"Redis on {HOST}:{self.port}",
                self.log_path,
                self._proc,
                interval=0.05,
            )
        except BaseException:
            self.kill()
            raise


def main(argv: Sequence[str]) -> int:
    if list(argv) != ["ensure"]:
        print("usage: services.py ensure", file=sys.stderr)
        return 2
    try:
        ensure_system_packages()
        ensure_kafka_libs()
    except (ServiceError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
