"""`python -m collector` as a process: SIGTERM finishes what it accepted and exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.collector.conftest import HEADERS, beacon, event, read_records

import services

REPO = Path(__file__).resolve().parents[2]


async def test_sigterm_drains_and_exits(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    topic: str,
    site_id: str,
    tmp_path: Path,
) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text(f'[sites.{site_id}]\ndomains = ["localhost"]\n')
    port = services.free_port()
    env = {
        **os.environ,
        "MICROCV_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "MICROCV_REDIS_URL": redis_server.url,
        "MICROCV_TOPIC": topic,
        "MICROCV_SITES": str(sites),
        "MICROCV_COLLECTOR_PORT": str(port),
        "MICROCV_SPOOL_DIR": str(tmp_path / "spool"),
        "MICROCV_GRACE_S": "10",
    }
    log = tmp_path / "collector.log"
    proc = services.spawn([sys.executable, "-m", "collector"], log, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    await asyncio.to_thread(services.wait_until, healthy, 60, "collector", log, proc)
    events = [event() for _ in range(10)]
    async with httpx.AsyncClient(base_url=url) as client:
        sends = [
            asyncio.create_task(
                client.post("/v1/collect", content=_dump(beacon(site_id, [e])), headers=HEADERS)
            )
            for e in events
        ]
        await asyncio.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        answers = await asyncio.gather(*sends, return_exceptions=True)
    code = await asyncio.to_thread(proc.wait, 30)
    # uvicorn re-raises the signal once its graceful shutdown is done: -SIGTERM is a clean exit.
    assert code in (0, -signal.SIGTERM), log.read_text()
    accepted = {
        e["i"]
        for e, a in zip(events, answers, strict=True)
        if isinstance(a, httpx.Response) and a.status_code == 202
    }
    assert accepted  # the requests already in flight were answered
    assert accepted <= {r.id for r in await read_records(kafka.bootstrap, topic)}
    assert "collector stopped" in log.read_text()


def _dump(body: object) -> bytes:
    import orjson

    return orjson.dumps(body)
