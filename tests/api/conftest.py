"""The query API against a real Redis filled by the real consumer from a real Kafka topic.

`fill` produces records to the test's topic and runs the Worker in burst mode; `api` serves the
app with a real uvicorn server on a free port (the lifespan runs) and gives an httpx client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from collector.records import Record, encode_record, record_key
from collector.schema import PropValue
from consumers.api import create_app
from consumers.settings import Settings
from consumers.worker import Worker
from snippet.sites import Sites, parse_sites
from tests.consumers.test_worker import produce, settings_for
from tests.e2e import conftest as e2e

import services

# The session's Chromium, shared with the e2e tests (tests/api/test_dashboard_browser.py).
browser = e2e.browser

TOKEN = "read-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Fill = Callable[[list[Record]], Awaitable[None]]


def now_ms() -> int:
    return int(time.time() * 1000)


def event(
    site: str,
    kind: str,
    name: str = "",
    *,
    ago_ms: int = 0,
    visitor: str = "v1",
    props: dict[str, PropValue] | None = None,
    url: str = "http://localhost/",
) -> Record:
    ts = now_ms() - ago_ms
    return Record(
        site=site,
        visitor=visitor,
        id=uuid.uuid4().hex,
        kind=kind,
        name=name,
        ts=ts,
        client_ts=ts,
        received=ts,
        url=url,
        referrer="",
        pageview="",
        props=props or {},
        bot=False,
    )


SITE_CONFIG = {
    "domains": ["localhost", "127.0.0.1"],
    "read_tokens": [TOKEN],
    "conversions": {
        "view_product": {"kind": "pageview", "path": "/product*"},
        "add_to_cart": {"kind": "click", "name": "add_to_cart"},
        "purchase": {"kind": "custom", "name": "purchase"},
        "whitepaper": {"kind": "download", "name": "*.pdf"},
        "read_article": {"kind": "scroll", "min_depth": 75, "path": "/article*"},
    },
    "funnels": {"shop": {"steps": ["view_product", "add_to_cart", "purchase"], "window": "30m"}},
    "experiments": {"cta": {"variants": ["control", "green"], "conversions": ["add_to_cart"]}},
    "lead_score": {"weights": {"whitepaper": 10, "add_to_cart": 3, "read_article": 5}},
}


def shop_records(site: str) -> list[Record]:
    """A little of everything the site config measures, for tests that need some data."""
    return [
        event(site, "pageview", url="http://localhost/product.html", visitor="a"),
        event(site, "click", "add_to_cart", visitor="a", props={"x": 500, "y": 300},
              url="http://localhost/product.html"),
        event(site, "variant", "cta", visitor="a", props={"variant": "green"}),
        event(site, "scroll", "75", url="http://localhost/article.html", visitor="b"),
    ]  # fmt: skip


@pytest.fixture
def sites(site_id: str) -> Sites:
    """The test's site, with micro-conversions, a funnel, an experiment and lead weights."""
    return parse_sites({"sites": {site_id: SITE_CONFIG}})


@pytest.fixture
def settings(
    kafka: services.KafkaServer, redis_server: services.RedisServer, topic: str
) -> Settings:
    return settings_for(kafka, redis_server.url, topic)


async def apply(settings: Settings, sites: Sites, records: list[Record]) -> None:
    """Produce `records` to the settings' topic and have the real worker apply them all."""
    values = [(record_key(r), encode_record(r)) for r in records]
    await produce(settings.kafka_bootstrap, settings.topic, values)
    # Until everything sent is applied, not until idle: on a fresh broker the group's first
    # join can take longer than any idle time.
    worker = Worker(settings, sites)
    await worker.start()
    try:
        deadline = time.monotonic() + 60
        while worker.applied + worker.duplicates < len(records):
            assert time.monotonic() < deadline, "the worker did not apply every record"
            await worker.process(await worker.poll())
    finally:
        await worker.stop()


@pytest.fixture
def fill(settings: Settings, sites: Sites) -> Fill:
    async def fill(records: list[Record]) -> None:
        await apply(settings, sites, records)

    return fill


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """`app` on a real uvicorn server on a free port, lifespan included; yields its base URL."""
    port = services.free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def api(settings: Settings, sites: Sites) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve(create_app(settings, sites)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client
