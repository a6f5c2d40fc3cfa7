"""A real browser's clicks on the demo shop become exact live counters.

Chromium -> tag -> collector -> real Kafka -> worker -> real Redis -> query API; nothing faked.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

ADDS = 4


def counters(stack: Stack, window: str = "5m") -> dict[str, int]:
    request = urllib.request.Request(
        f"{stack.api_url}/v1/sites/demo/counters?window={window}",
        headers={"Authorization": "Bearer demo-read-token"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        body = json.load(resp)
    result: dict[str, int] = body["counters"]
    return result


def wait_for(stack: Stack, expected: dict[str, int], timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    seen = counters(stack)
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.25)
        seen = counters(stack)
    return seen


def test_a_shopping_visit_is_counted_exactly(stack: Stack, browser: Browser) -> None:
    assert counters(stack) == {}
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()

    page.goto(f"{stack.demo_url}/product.html")
    button = page.locator('button[data-mcv="add_to_cart"]')
    # Once on the icon's <path>, deep inside the button: credited to the button all the same.
    page.locator('button[data-mcv="add_to_cart"] svg path').click()
    for _ in range(ADDS - 1):
        button.click()
    # Chromium opens the PDF in its viewer: leaving the page must not lose the queued events.
    page.locator('a[href$="whitepaper.pdf"]').first.click()
    page.wait_for_url("**/whitepaper.pdf")

    page.goto(f"{stack.demo_url}/article.html")
    page.mouse.wheel(0, 200)
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_timeout(300)
    page.close()  # pagehide flushes whatever is still queued
    context.close()

    expected = {
        "pageview": 2,
        "click": ADDS,
        "click:add_to_cart": ADDS,
        "download": 1,
        "download:whitepaper.pdf": 1,
        "scroll": 4,
        "scroll:25": 1,
        "scroll:50": 1,
        "scroll:75": 1,
        "scroll:100": 1,
    }
    assert wait_for(stack, expected) == expected
    # Nothing arrives late and nothing is counted twice.
    time.sleep(2)
    assert counters(stack) == expected
    assert counters(stack, "1h") == expected
    assert counters(stack, "24h") == expected
