"""The tag: gzip -9 size of each variant, and main-thread script time per click and per scroll.

Sizes come from the tag's own measuring tool (`python -m snippet.size`). Main-thread time is
Chromium's own ScriptDuration (CDP Performance.getMetrics) over real input (mouse clicks on a
data-mcv button, wheel scrolls down a long page), on the same page with the tag and without it
(the bare reference); the difference per action is the tag's handlers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from playwright.async_api import CDPSession, Route, async_playwright

from bench import REPO
from bench.infra import SITE
from bench.results import Results
from snippet.generator import render_inline
from snippet.sites import Site

CHROMIUM = "/usr/bin/chromium"
ACTIONS = 200
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>bench</title>{tag}</head>
<body><button id="buy" data-mcv="add_to_cart" data-mcv-sku="MUG-1">Add to cart</button>
{filler}</body></html>"""
FILLER = "<p>" + "lorem ipsum dolor sit amet " * 40 + "</p>"


def sizes(results: Results) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "snippet.size"], cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        results.notes.append(f"tag sizes: python -m snippet.size failed: {done.stderr[-300:]}")
        return
    for line in done.stdout.splitlines():
        name, _, size = line.strip().rpartition(" ")
        if name and size.isdigit():
            results.add(f"tag.gzip.{name.strip()}", int(size), "bytes", "gzip -9")


async def _script_ms(cdp: CDPSession) -> float:
    metrics = await cdp.send("Performance.getMetrics")
    values = {m["name"]: m["value"] for m in metrics["metrics"]}
    return float(values["ScriptDuration"]) * 1000


async def _per_action(with_tag: bool) -> tuple[float, float, str]:
    site = Site(id=SITE, domains=("bench.test",), tag={})
    tag = render_inline(site, "http://bench.test") if with_tag else ""
    html = PAGE.format(tag=tag, filler=FILLER * 400)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()

            async def serve(route: Route) -> None:
                if "/v1/" in route.request.url:
                    await route.fulfill(status=204)
                else:
                    await route.fulfill(body=html, content_type="text/html")

            await page.route("http://bench.test/**", serve)
            await page.goto("http://bench.test/")
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Performance.enable")
            await page.wait_for_timeout(500)
            box = await page.locator("#buy").bounding_box()
            assert box is not None
            before = await _script_ms(cdp)
            for _ in range(ACTIONS):
                await page.mouse.click(box["x"] + 5, box["y"] + 5)
            await page.wait_for_timeout(300)
            click = (await _script_ms(cdp) - before) / ACTIONS
            before = await _script_ms(cdp)
            for _ in range(ACTIONS):
                await page.mouse.wheel(0, 400)
            await page.wait_for_timeout(300)
            scroll = (await _script_ms(cdp) - before) / ACTIONS
            loaded = await page.evaluate("typeof window.microcv")
            return click, scroll, str(loaded)
        finally:
            await browser.close()


def run(results: Results) -> None:
    sizes(results)
    bare_click, bare_scroll, _ = asyncio.run(_per_action(with_tag=False))
    tag_click, tag_scroll, beacons = asyncio.run(_per_action(with_tag=True))
    note = f"ScriptDuration, {ACTIONS} real inputs, tag minus bare page (microcv: {beacons})"
    results.add("tag.main_thread.click", (tag_click - bare_click) * 1000, "us/click", note)
    results.add("tag.main_thread.scroll", (tag_scroll - bare_scroll) * 1000, "us/scroll", note)
