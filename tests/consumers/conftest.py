"""A real three-master Redis Cluster for the session, and a `backend` fixture that runs a test
against the single node and against the cluster."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from consumers.redisconn import AnyRedis

import services


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, as cluster mode needs."""
    while True:
        port = services.free_port()
        if port <= 55535 and not services.port_open(port + 10000):
            return port


@dataclass(frozen=True)
class Backend:
    """Where the counters live: a URL, and whether it names a cluster node."""

    name: str
    url: str
    cluster: bool


class RedisClusterNodes:
    """Three redis-server processes in cluster mode, joined with redis-cli --cluster create."""

    def __init__(self, root: Path, masters: int = 3) -> None:
        self.root = root
        self.ports = [_cluster_port() for _ in range(masters)]
        self.nodes = [
            services.RedisServer(port, root / str(port), root / f"{port}.log")
            for port in self.ports
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        for node in self.nodes:
            argv = [
                *node.argv(),
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node.data_dir / "nodes.conf"),
                "--cluster-node-timeout", "5000",
            ]  # fmt: skip
            node.argv = lambda argv=argv: argv  # type: ignore[method-assign]
            node.start()
        subprocess.run(
            [
                shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
                *[f"127.0.0.1:{p}" for p in self.ports],
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        services.wait_until(self._ok, 30, "redis cluster", self.nodes[0].log_path)

    def _ok(self) -> bool:
        for port in self.ports:
            out = subprocess.run(
                ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True
            ).stdout
            if "cluster_state:ok" not in out:
                return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    cluster = RedisClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["single", "cluster"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "cluster":
        cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
        return Backend("cluster", cluster.url, True)
    server: services.RedisServer = request.getfixturevalue("redis_server")
    return Backend("single", server.url, False)


@pytest.fixture
async def store_client(backend: Backend) -> AsyncIterator[AnyRedis]:
    """A client of the backend under test (the cluster client finds every node)."""
    from redis.asyncio import Redis

    client: AnyRedis = (
        RedisCluster.from_url(backend.url) if backend.cluster else Redis.from_url(backend.url)
    )
    try:
        yield client
    finally:
        await client.aclose()
