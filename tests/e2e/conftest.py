"""The whole stack as a user runs it: real entry points as processes, the demo site, Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

import services

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# The collector keeps headless browsers out of human counters. These tests play a human visitor,
# so the browser says what a desktop Chrome says, on every request: a context-level override
# does not reach the beacons Chromium sends while a page is being left.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROMIUM_ARGS = [
    f"--user-agent={DESKTOP_CHROME}",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Stack:
    demo_url: str
    collector_url: str
    api_url: str
    logs: Path


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
async def stack(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    async with run_stack(kafka, redis_server.url, tmp_path_factory.mktemp("stack")) as running:
        yield running


@contextlib.asynccontextmanager
async def run_stack(
    kafka: services.KafkaServer, redis_url: str, root: Path
) -> AsyncIterator[Stack]:
    """The stack on its own topic and the given Redis (tests/api's dashboard test brings its
    own Redis, so that its demo visits never show in the e2e tests' exact counters)."""
    topic = f"e2e.events.{uuid.uuid4().hex[:8]}"
    await services.create_topic_async(kafka.bootstrap, topic, 6)
    await services.create_topic_async(kafka.bootstrap, f"{topic}.dead", 1)
    ports = {name: services.free_port() for name in ("collector", "api", "demo")}
    collector_url = f"http://127.0.0.1:{ports['collector']}"
    env = {
        **os.environ,
        "MICROCV_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "MICROCV_REDIS_URL": redis_url,
        "MICROCV_TOPIC": topic,
        "MICROCV_DEAD_LETTER_TOPIC": f"{topic}.dead",
        "MICROCV_GROUP": f"e2e-{uuid.uuid4().hex[:8]}",
        "MICROCV_SITES": str(REPO / "deploy" / "sites.toml"),
        "MICROCV_COLLECTOR_PORT": str(ports["collector"]),
        "MICROCV_API_PORT": str(ports["api"]),
    }
    # The demo pages carry the tag for the default ports; re-paste it for this collector, as a
    # site owner would after rendering the tag for their own collector.
    await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable, "-m", "snippet", "--sites", env["MICROCV_SITES"], "--site", "demo",
            "--collector", collector_url, "--paste-into", str(REPO / "deploy" / "demo"),
            "--out", str(root / "demo"),
        ],
        check=True,
        env=env,
    )  # fmt: skip
    logs = root / "logs"
    commands = {
        "collector": [sys.executable, "-m", "collector"],
        "worker": [sys.executable, "-m", "consumers"],
        "api": [sys.executable, "-m", "consumers.api"],
        "demo": [
            sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
            "--directory", str(root / "demo"), str(ports["demo"]),
        ],
    }  # fmt: skip
    procs = {
        name: services.spawn(argv, logs / f"{name}.log", env=env, cwd=REPO)
        for name, argv in commands.items()
    }
    try:
        for name, url in (
            ("collector", f"{collector_url}/healthz"),
            ("api", f"http://127.0.0.1:{ports['api']}/healthz"),
            ("demo", f"http://127.0.0.1:{ports['demo']}/"),
        ):
            await asyncio.to_thread(
                services.wait_until,
                lambda url=url: _http_ok(url),
                30,
                name,
                logs / f"{name}.log",
                procs[name],
            )
        yield Stack(
            demo_url=f"http://127.0.0.1:{ports['demo']}",
            collector_url=collector_url,
            api_url=f"http://127.0.0.1:{ports['api']}",
            logs=logs,
        )
    finally:
        for proc in procs.values():
            services.terminate(proc.pid, 15, proc)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
