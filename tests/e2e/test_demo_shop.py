"""A real browser's clicks on the demo shop become exact live counters.

Chromium -> tag -> collector -> real Kafka -> worker -> real Redis -> query API; nothing faked.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from playwright.async_api import Browser

from tests.e2e.conftest import DESKTOP_CHROME, Stack

pytestmark = pytest.mark.e2e

ADDS = 4
# Headless Chromium says "HeadlessChrome", which the collector counts as a bot; this test is about
# a human visit, so its browser presents a regular desktop Chrome's user agent.


async def counters(stack: Stack, window: str = "5m") -> dict[str, int]:
    async with httpx.AsyncClient(timeout=5) as client:
        resp = await client.get(
            f"{stack.api_url}/v1/sites/demo/counters",
            params={"window": window},
            headers={"Authorization": "Bearer demo-read-token"},
        )
    resp.raise_for_status()
    result: dict[str, int] = resp.json()["counters"]
    return result


async def wait_for(stack: Stack, expected: dict[str, int], within: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + within
    seen = await counters(stack)
    while seen != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        seen = await counters(stack)
    return seen


async def test_a_shopping_visit_is_counted_exactly(stack: Stack, browser: Browser) -> None:
    assert await counters(stack) == {}
    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    page = await context.new_page()

    await page.goto(f"{stack.demo_url}/product.html")
    button = page.locator('button[data-mcv="add_to_cart"]')
    # Once on the icon's <path>, deep inside the button: credited to the button all the same.
    await page.locator('button[data-mcv="add_to_cart"] svg path').click()
    for _ in range(ADDS - 1):
        await button.click()
    # The reviews half visible for a second: one visible event for the pageview, however long.
    # Scrolled to the bottom, so the product page's milestones are all passed, each once.
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    await page.wait_for_timeout(1500)
    # Chromium opens the PDF in its viewer: leaving the page must not lose the queued events.
    await page.locator('a[href$="whitepaper.pdf"]').first.click()
    await page.wait_for_url("**/whitepaper.pdf")

    await page.goto(f"{stack.demo_url}/article.html")
    await page.mouse.wheel(0, 200)
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    await page.wait_for_timeout(300)
    await page.close()  # pagehide flushes whatever is still queued
    await context.close()

    expected = {
        "pageview": 2,
        "click": ADDS,
        "click:add_to_cart": ADDS,
        "download": 1,
        "download:whitepaper.pdf": 1,
        # The product page's A/B test exposure (either variant: the counter names the experiment).
        "variant": 1,
        "variant:cta_copy": 1,
        "visible": 1,
        "visible:reviews": 1,
        # The product page and the article, each read to the bottom.
        "scroll": 8,
        "scroll:25": 2,
        "scroll:50": 2,
        "scroll:75": 2,
        "scroll:100": 2,
    }
    assert await wait_for(stack, expected) == expected
    # Nothing arrives late and nothing is counted twice.
    await asyncio.sleep(2)
    assert await counters(stack) == expected
    assert await counters(stack, "1h") == expected
    assert await counters(stack, "24h") == expected
