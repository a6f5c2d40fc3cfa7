"""The opt-in persistent visitor id (persist_visitor) in Chromium: the tag keeps a random id in
first-party storage and sends it as the batch's "cid"; through the real collector, a browser
stays one visitor after the daily salt rotated, while a default tag's visitor changes with it.
Off by default (no id stored, no "cid" sent), held back by consent mode, and Global Privacy
Control still wins."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.async_api import Browser
from redis import Redis

from collector.records import encode_record
from collector.visitor import DAY_S, salt_key
from tests.collector.conftest import read_records
from tests.snippet.conftest import Pages, Visit

import services

REPO = Path(__file__).resolve().parents[2]
SITES_TOML = """
[sites.keep]
domains = ["127.0.0.1"]
tag = { allow_webdriver = true, persist_visitor = true }

[sites.daily]
domains = ["127.0.0.1"]
tag = { allow_webdriver = true }
"""
CID = re.compile(r"[0-9]{8,64}")


def _stored_id(site: str) -> str:
    return f"localStorage['microcv:{site}:v']"


async def test_off_by_default_no_id_is_stored_or_sent(visit: Visit, pages: Pages) -> None:
    site = pages.write("plain.html", "<p>hi</p>")
    await visit.page.goto(pages.url("plain.html"))
    await visit.wait_for(site, "pageview")
    await visit.hide()
    assert all("cid" not in b for b in pages.bodies(site))
    assert await visit.page.evaluate("Object.keys(localStorage)") == []


async def test_the_id_is_kept_and_sent_with_every_batch(visit: Visit, pages: Pages) -> None:
    site = pages.write("keep.html", "<p>hi</p>", {"persist_visitor": True})
    await visit.page.goto(pages.url("keep.html"))
    await visit.wait_for(site, "pageview")
    await visit.page.reload()
    await visit.wait_for(site, "pageview", 2)
    (cid,) = {b["cid"] for b in pages.bodies(site)}
    assert CID.fullmatch(cid)
    assert await visit.page.evaluate(_stored_id(site)) == cid


async def test_consent_mode_stores_no_id_before_consent(visit: Visit, pages: Pages) -> None:
    site = pages.write("held.html", "<p>hi</p>", {"persist_visitor": True, "consent": True})
    await visit.page.goto(pages.url("held.html"))
    await visit.page.wait_for_timeout(1500)
    assert pages.bodies(site) == []
    assert await visit.page.evaluate(_stored_id(site)) is None
    await visit.page.evaluate("microcv('consent', true)")
    await visit.wait_for(site, "pageview")
    (cid,) = {b["cid"] for b in pages.bodies(site)}
    assert await visit.page.evaluate(_stored_id(site)) == cid


async def test_global_privacy_control_still_wins(visit: Visit, pages: Pages) -> None:
    site = pages.write("gpc.html", "<p>hi</p>", {"persist_visitor": True})
    await visit.page.add_init_script(
        "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
    )
    await visit.page.goto(pages.url("gpc.html"))
    await visit.page.evaluate("microcv('event', 'signup')")
    await visit.page.wait_for_timeout(1500)
    await visit.hide()
    await visit.page.wait_for_timeout(300)
    assert pages.bodies(site) == []
    assert await visit.page.evaluate("Object.keys(localStorage)") == []
    assert visit.errors == []


class _Collector:
    """`python -m collector` on a free port; stopped and started again to rotate the salt."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.url = ""
        self._proc: Any = None

    def start(self) -> None:
        port = services.free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self.root / f"collector-{port}.log"
        env = {**self.env, "MICROCV_COLLECTOR_PORT": str(port)}
        self._proc = services.spawn([sys.executable, "-m", "collector"], log, env=env, cwd=REPO)
        services.wait_until(lambda: _ready(self.url), 30, "collector", log, self._proc)

    def stop(self) -> None:
        if self._proc is not None:
            services.terminate(self._proc.pid, 15, self._proc)
            self._proc = None


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture
def collector(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    tmp_path: Path,
) -> Iterator[tuple[_Collector, str]]:
    sites = tmp_path / "sites.toml"
    sites.write_text(SITES_TOML)
    topic = f"tag.visitor.{uuid.uuid4().hex[:8]}"
    services.create_topic(kafka.bootstrap, topic, 1)
    env = {
        **os.environ,
        "MICROCV_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "MICROCV_REDIS_URL": redis_server.url,
        "MICROCV_TOPIC": topic,
        "MICROCV_SITES": str(sites),
        "MICROCV_SPOOL_DIR": str(tmp_path / "spool"),
    }
    server = _Collector(tmp_path, env)
    try:
        yield server, topic
    finally:
        server.stop()


async def _pageviews(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    """The topic's pageview events, each as a version 1 record's fields, once `count` are in."""
    async with asyncio.timeout(30):
        while True:
            records = await read_records(bootstrap, topic)
            views = [orjson.loads(encode_record(r)) for r in records if r.kind == "pageview"]
            if len(views) >= count:
                return views
            await asyncio.sleep(0.2)


async def test_a_persistent_visitor_outlives_the_daily_salt(
    chromium: Browser,
    pages: Pages,
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    collector: tuple[_Collector, str],
) -> None:
    server, topic = collector
    context = await chromium.new_context()
    page = await context.new_page()
    try:
        for visit in range(2):
            # Each visit has its own collector; between them the day's salt is deleted, as at
            # midnight, so the second collector makes a new one.
            server.start()
            for site in ("keep", "daily"):
                options = {"persist_visitor": site == "keep"}
                pages.write(
                    f"{site}-{visit}.html", "<p>hi</p>", options, site=site, collector=server.url
                )
                await page.goto(pages.url(f"{site}-{visit}.html"))
            await page.goto("about:blank")
            await _pageviews(kafka.bootstrap, topic, 2 * (visit + 1))
            server.stop()
            with Redis.from_url(redis_server.url) as redis:
                redis.delete(salt_key(int(time.time() // DAY_S)))
        records = await _pageviews(kafka.bootstrap, topic, 4)
    finally:
        await context.close()
    visitors = {
        site: [r["vid"] for r in records if r["site"] == site] for site in ("keep", "daily")
    }
    assert len(visitors["keep"]) == len(visitors["daily"]) == 2
    # The persistent id is one visitor on both sides of the rotation; the daily one is not.
    assert visitors["keep"][0] == visitors["keep"][1]
    assert visitors["daily"][0] != visitors["daily"][1]
    assert visitors["keep"][0] not in visitors["daily"]
