"""The tag through the real collector: `python -m collector` serves the tracker (ETag, 304,
SRI) and takes its beacons into a real Kafka topic, from a page under a strict CSP that loads
the tracker with the generator's loader. One visit exercises every group of features."""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import Browser

from collector.records import decode_records, encode_record
from snippet.generator import render_loader, render_script, subresource_integrity
from snippet.sites import Site, load_sites
from tests.snippet.conftest import Pages

import services

REPO = Path(__file__).resolve().parents[2]
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SITES_TOML = """
[sites.tagtest]
domains = ["127.0.0.1"]

[sites.tagtest.tag]
allow_webdriver = true
forms = true
engaged = true
rage_clicks = true
dead_clicks = true
variants = true
visible = { "#reviews" = "reviews_seen" }
"""


@dataclass(frozen=True)
class Collector:
    url: str
    topic: str
    bootstrap: str
    site: Site


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def collector(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Collector]:
    root = tmp_path_factory.mktemp("tagcollector")
    sites_path = root / "sites.toml"
    sites_path.write_text(SITES_TOML)
    topic = f"tag.events.{uuid.uuid4().hex[:8]}"
    services.create_topic(kafka.bootstrap, topic, 1)
    port = services.free_port()
    env = {
        **os.environ,
        "MICROCV_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "MICROCV_REDIS_URL": redis_server.url,
        "MICROCV_TOPIC": topic,
        "MICROCV_SITES": str(sites_path),
        "MICROCV_COLLECTOR_PORT": str(port),
        "MICROCV_SPOOL_DIR": str(root / "spool"),
    }
    log = root / "collector.log"
    proc = services.spawn([sys.executable, "-m", "collector"], log, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        services.wait_until(lambda: _healthy(f"{url}/healthz"), 30, "collector", log, proc)
        site = load_sites(sites_path).get("tagtest")
        assert site is not None
        yield Collector(url=url, topic=topic, bootstrap=kafka.bootstrap, site=site)
    finally:
        services.terminate(proc.pid, 15, proc)


async def test_the_collector_serves_the_tracker_with_etag_and_sri(collector: Collector) -> None:
    script = render_script(collector.site, None)
    async with httpx.AsyncClient(base_url=collector.url, timeout=5) as client:
        resp = await client.get("/v1/tag/tagtest.js")
        assert resp.status_code == 200
        assert resp.text == script
        assert resp.headers["content-type"] == "text/javascript; charset=utf-8"
        assert resp.headers["cache-control"].startswith("public, max-age=")
        assert resp.headers["access-control-allow-origin"] == "*"
        etag = resp.headers["etag"]
        again = await client.get("/v1/tag/tagtest.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        other = await client.get("/v1/tag/tagtest.js", headers={"If-None-Match": '"nope"'})
        assert other.status_code == 200
        missing = await client.get("/v1/tag/nosuchsite.js")
        assert missing.status_code == 404
        assert missing.json() == {"error": "unknown_tag_site"}
        metrics = (await client.get("/metrics")).text
    assert 'reason="unknown_tag_site"' in metrics
    assert f'integrity="{subresource_integrity(resp.text)}"' in render_loader(
        collector.site, collector.url
    )


async def _records(collector: Collector, until: set[str], within: float = 30) -> list[Any]:
    consumer = AIOKafkaConsumer(
        collector.topic, bootstrap_servers=collector.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while not until <= {r["k"] for r in records}:
                batch = await consumer.getmany(timeout_ms=500)
                # Each event as a version 1 record's fields (Kafka carries batch records).
                records += [
                    orjson.loads(encode_record(r))
                    for ms in batch.values()
                    for m in ms
                    for r in decode_records(m.value)
                ]
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return records


@pytest.fixture
async def strict_page(pages: Pages, collector: Collector) -> AsyncIterator[str]:
    csp = (
        f"default-src 'self'; style-src 'unsafe-inline'; script-src {collector.url}; "
        f"connect-src {collector.url}"
    )
    (pages.root / "strict.html").write_text(
        f"""<!doctype html><html><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="{csp}">
        {render_loader(collector.site, collector.url)}</head><body>
        <button data-mcv="add_to_cart" data-mcv-sku="MUG-1">Add</button>
        <button id="dead">does nothing</button>
        <a href="files/whitepaper.pdf" id="pdf">white paper</a>
        <a href="http://127.0.0.2:9/partner" id="out">partner</a>
        <form id="signup"><input name="email"><button>Go</button></form>
        <div style="height:3000px"></div><section id="reviews">reviews</section>
        <div style="height:600px"></div></body></html>"""
    )
    yield pages.url("strict.html")


async def test_every_group_reaches_kafka_through_the_collector(
    chromium: Browser, collector: Collector, strict_page: str
) -> None:
    context = await chromium.new_context(user_agent=DESKTOP_CHROME)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(strict_page)
        await page.wait_for_function("typeof microcv == 'function' && !microcv.q")
        await page.evaluate(
            "document.addEventListener('click', e => e.target.closest('a') && e.preventDefault());"
            "document.addEventListener('submit', e => e.preventDefault())"
        )
        await page.evaluate("microcv('variant', 'checkout', 'B'); microcv('event', 'signup')")
        await page.click("button[data-mcv]")
        await page.click("#dead")
        for _ in range(3):
            await page.click("#dead", delay=0)
        await page.click("#pdf")
        await page.click("#out", button="middle")
        await page.fill("#signup input", "x")
        await page.click("#signup button")
        await page.evaluate("reviews.scrollIntoView()")
        await page.wait_for_timeout(1500)
        await page.mouse.move(5, 5)
        await page.goto("about:blank")  # page hide: engaged time, scroll max, the rest
        expected = {
            "pageview", "custom", "variant", "click", "dead_click", "rage_click", "download",
            "outbound", "form_start", "form_submit", "scroll", "visible", "engaged",
        }  # fmt: skip
        records = await _records(collector, expected)
    finally:
        await context.close()
    async with httpx.AsyncClient(timeout=5) as client:
        metrics = (await client.get(f"{collector.url}/metrics")).text
    assert expected <= {r["k"] for r in records}, (
        sorted({r["k"] for r in records}),
        [m for m in metrics.splitlines() if "reject" in m],
    )
    assert errors == []
    assert {r["site"] for r in records} == {"tagtest"}
    # Exactly once each, with the ids the tag made.
    assert len({r["id"] for r in records}) == len(records)
    (click,) = [r for r in records if r["k"] == "click" and r["n"] == "add_to_cart"]
    assert click["p"]["sku"] == "MUG-1" and click["p"]["exp:checkout"] == "B"
    # The tag sent link clicks; the collector's link rules (collector/links.py) made these.
    (download,) = [r for r in records if r["k"] == "download"]
    assert download["n"] == "whitepaper.pdf"
    assert download["p"] == {"ext": "pdf", "exp:checkout": "B"}
    (outbound,) = [r for r in records if r["k"] == "outbound"]
    assert (outbound["n"], outbound["p"]["url"]) == ("127.0.0.2", "http://127.0.0.2:9/partner")
    # The links left the page as it was, but a download or outbound link is no dead click.
    dead = {r["p"]["el"] for r in records if r["k"] == "dead_click"}
    assert "button#dead" in dead and not dead & {"a#pdf", "a#out"}
    assert not any("href" in r["p"] for r in records)
