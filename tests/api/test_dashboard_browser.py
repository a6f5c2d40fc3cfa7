"""The dashboard in Debian's Chromium while real visits flow through the demo shop.

A whole stack (collector, worker, API, demo) on a Redis of its own, so that these visits never
show in the exact counters the e2e tests assert. The dashboard is opened once and never
reloaded: the counters must change from the live stream alone. The screenshot is kept by CI at
artifacts/dashboard.png.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import Stack, run_stack

import services

pytestmark = pytest.mark.e2e

OTHERS = 70
ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard.png"
WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
AGENTS = [
    f"Mozilla/5.0 (X11; Linux x86_64) {WEBKIT} Chrome/126.0.0.0 Safari/537.36",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {WEBKIT} Chrome/126.0.0.0 Mobile Safari/537.36",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/125.0.0.0 Safari/537.36",
]


@pytest.fixture
async def own_stack(
    kafka: services.KafkaServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("dashboard")
    redis = services.RedisServer(services.free_port(), root / "redis", root / "redis.log")
    redis.start()
    try:
        async with run_stack(kafka, redis.url, root / "stack") as stack:
            yield stack
    finally:
        redis.stop()


async def visit(browser: Browser, stack: Stack, i: int) -> None:
    """A visit in Chromium: the product page, the cart, maybe the white paper, the article."""
    context = await browser.new_context(viewport={"width": 390 if i % 2 else 1280, "height": 800})
    page = await context.new_page()
    await page.goto(f"{stack.demo_url}/product.html")
    for _ in range(1 + i % 3):
        await page.locator('button[data-mcv="add_to_cart"]').click()
    if i % 2:
        await page.locator('a[href$="whitepaper.pdf"]').click()
        await page.wait_for_url("**/whitepaper.pdf")
    await page.goto(f"{stack.demo_url}/article.html")
    await page.evaluate(f"window.scrollTo(0, document.documentElement.scrollHeight * {i % 4} / 3)")
    await page.wait_for_timeout(300)
    await page.close()
    await context.close()


async def other_visitors(stack: Stack, n: int) -> None:
    """Visitors of other browsers (user agents), their beacons posted as the tag posts them:
    in an experiment's arms, some going down the funnel (one Chromium is one visitor only)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(n):
            now = int(time.time() * 1000)
            bold = i % 2 == 1
            steps = 1 + (i % 3 if bold else i % 5 == 0)
            events: list[dict[str, object]] = [
                {"k": "pageview", "u": f"{stack.demo_url}/product.html"},
                {"k": "variant", "n": "cta_copy", "p": {"variant": "bold" if bold else "control"}},
            ]
            if steps > 1:
                x, y = 80 + (i * 37) % 200, 330 + (i * 53) % 120
                events.append({"k": "click", "n": "add_to_cart", "p": {"x": x, "y": y}})
            if steps > 2:
                events.append({"k": "download", "n": "whitepaper.pdf"})
            for j, e in enumerate(events):
                e.update(i=f"o{i}-{j}-{now}", ts=now + j)
                e.setdefault("u", f"{stack.demo_url}/product.html")
            resp = await client.post(
                f"{stack.collector_url}/v1/collect",
                content=json.dumps({"v": 1, "s": "demo", "t": now, "e": events}),
                headers={
                    "Content-Type": "text/plain",
                    "Origin": stack.demo_url,
                    "User-Agent": f"{AGENTS[i % len(AGENTS)]} v{i}",
                },
            )
            assert resp.status_code < 300, resp.text


async def kpi(page: Page, name: str) -> str:
    return await page.locator(f'.kpi[data-id="{name}"] .value').inner_text()


async def test_dashboard_follows_live_visits_without_reload(
    own_stack: Stack, browser: Browser
) -> None:
    stack = own_stack
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{stack.api_url}/dashboard/?site=demo&origin={stack.demo_url}")

    # A wrong token is refused with a message, and no data.
    await page.fill("#login-token", "not-the-token")
    await page.click("#login-form button")
    await expect(page.locator("#login-error")).to_contain_text("may not read")
    await expect(page.locator("#board")).to_be_hidden()

    await page.fill("#login-token", "demo-read-token")
    await page.click("#login-form button")
    await expect(page.locator("#live")).to_have_class("live on", timeout=15_000)
    await expect(page.locator("#empty")).to_be_visible()  # nothing happened yet
    assert await kpi(page, "pageview") == "0"
    await page.evaluate("window.__notReloaded = true")

    await visit(browser, stack, 0)
    # Pushed by the stream: the page was never reloaded.
    await expect(page.locator('.kpi[data-id="pageview"] .value')).not_to_have_text(
        "0", timeout=30_000
    )
    assert await page.evaluate("window.__notReloaded") is True
    await expect(page.locator("#empty")).to_be_hidden()

    for i in range(1, 4):
        await visit(browser, stack, i)
    await other_visitors(stack, OTHERS)
    # 4 browser visits x 2 pages and one product page per other visitor, all pushed live.
    pageviews = page.locator('.kpi[data-id="pageview"] .value')
    await expect(pageviews).to_have_text(str(8 + OTHERS), timeout=30_000)
    assert await page.evaluate("window.__notReloaded") is True

    # The other panels follow the stream (at most every 3 s).
    await expect(page.locator("#funnel .bar-row")).to_have_count(3, timeout=10_000)
    await expect(page.locator("#experiments tbody tr")).to_have_count(4)  # 2 variants x 2 goals
    await expect(page.locator("#experiments")).to_contain_text("control")
    await expect(page.locator("#leads tbody tr")).not_to_have_count(0)
    await expect(page.locator("#scroll .bar-row")).not_to_have_count(0)
    await page.select_option("#heat-pick", "/product.html")
    await page.locator("#series .u-over").wait_for()
    await page.wait_for_timeout(1500)  # the heatmap's frame and the chart settle

    ARTIFACT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACT), full_page=True)

    # Phone width: one column, nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(300)
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390
    await page.screenshot(path=str(ARTIFACT.with_name("dashboard-phone.png")), full_page=True)
    await context.close()
