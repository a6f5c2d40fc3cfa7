"""A real collector process for the CLI tests, on its own port, topic and sites file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import services
from .support import Collector, StartCollector

REPO = Path(__file__).resolve().parents[2]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture
async def start_collector(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    topic: str,
    site_id: str,
    tmp_path: Path,
) -> AsyncIterator[StartCollector]:
    """Start `python -m collector` for the test's site and topic; extra env vars as keywords."""
    procs: list[subprocess.Popen[bytes]] = []

    async def start(**extra_env: str) -> Collector:
        sites = tmp_path / "sites.toml"
        sites.write_text(
            f'[sites.{site_id}]\ndomains = ["shop.example", "127.0.0.1"]\n'
            'read_tokens = ["read-token"]\n'
        )
        port = services.free_port()
        log = tmp_path / f"collector-{port}.log"
        env = {
            **os.environ,
            "MICROCV_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "MICROCV_REDIS_URL": redis_server.url,
            "MICROCV_TOPIC": topic,
            "MICROCV_SITES": str(sites),
            "MICROCV_COLLECTOR_PORT": str(port),
            "MICROCV_SPOOL_DIR": str(tmp_path / "spool"),
            **extra_env,
        }
        argv = [sys.executable, "-m", "collector"]
        proc = services.spawn(argv, log, env=env, cwd=REPO)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(
            services.wait_until, lambda: _healthy(f"{url}/healthz"), 30, "collector", log, proc
        )
        return Collector(url, topic, sites, log, proc)

    try:
        yield start
    finally:
        for proc in procs:
            services.terminate(proc.pid, 15, proc)
