"""The page lifecycle for real: a back/forward-cache restore and a prerendered page activated by
a navigation, in Chromium itself rather than with the browser's events dispatched by a test.

Playwright turns the back/forward cache off by default (its router would miss a restored page's
requests); the first test launches a browser without that switch. A page that DevTools is
attached to is never prerendered (Chromium's prerender status "PrerenderingDisabledByDevTools"),
so the second test runs Chromium headless without any automation: the fixture page itself
prerenders the tagged page through speculation rules, tells the stand-in collector when it is
about to navigate, then navigates, which activates the prerendered page.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.snippet.conftest import CHROMIUM, CHROMIUM_ARGS, Pages, Visit


@pytest.fixture(scope="module")
async def chromium_with_bfcache() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def test_a_real_back_forward_cache_restore_is_one_fresh_pageview(
    pages: Pages, chromium_with_bfcache: Browser
) -> None:
    site = pages.write("bfreal/a.html", "<a id='next' href='b.html'>next</a>")
    pages.write("bfreal/b.html", "<p>b</p>")
    context = await chromium_with_bfcache.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    visit = Visit(context=context, page=page, pages=pages)
    try:
        await page.goto(pages.url("bfreal/a.html"))
        await page.evaluate(
            "addEventListener('pageshow', (e) => { window.__restored = e.persisted })"
        )
        (first,) = await visit.wait_for(site, "pageview")
        await page.click("#next")
        await page.wait_for_url("**/b.html")
        # history.back() rather than page.go_back(): a restore fires no load event to wait for.
        await page.evaluate("history.back()")
        await page.wait_for_function("window.__restored === true")
        views = await visit.wait_for(site, "pageview", 2)
        await page.wait_for_timeout(1500)
        views = pages.events(site, "pageview")
        assert len(views) == 2
        assert views[1]["pv"] != first["pv"]
        assert views[1]["i"] != first["i"]
        assert views[1]["u"] == first["u"]
        assert errors == []
    finally:
        await context.close()


def _navigator_page(target: str, marker_site: str) -> str:
    rules = json.dumps({"prerender": [{"source": "list", "urls": [target]}]})
    marker = json.dumps({"v": 1, "s": marker_site, "t": 0, "e": []})
    # Waits long enough for the prerender to have run its scripts, says so, then navigates.
    return (
        f"<script type='speculationrules'>{rules}</script>"
        "<script>setTimeout(() => fetch('/v1/collect', {method: 'POST', body: '"
        + marker
        + f"'}}).then(() => {{ location.href = '{target}' }}), 2500)</script>"
    )


async def test_a_really_prerendered_page_sends_nothing_until_it_is_activated(
    pages: Pages, tmp_path_factory: pytest.TempPathFactory
) -> None:
    site = pages.write(
        "prereal/target.html",
        "<script>window.__pr = document.prerendering;"
        "microcv('event', 'early', {prerendered: document.prerendering})</script>",
        head="<script>window.microcv=window.microcv||function(){"
        "(microcv.q=microcv.q||[]).push(arguments)}</script>",
    )
    marker_site = site + "-navigating"
    page = pages.root / "prereal" / "start.html"
    page.write_text(
        "<!doctype html><html><body>"
        + _navigator_page("target.html", marker_site)
        + "</body></html>"
    )
    profile = tmp_path_factory.mktemp("chromium-profile")
    browser = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        *CHROMIUM_ARGS,
        f"--user-data-dir={profile}",
        pages.url("prereal/start.html"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if pages.events(site, "custom"):
                break
            await asyncio.sleep(0.05)
        order = [b["s"] for b in list(pages.received) if b["s"] in (site, marker_site)]
    finally:
        browser.kill()
        await asyncio.wait_for(browser.wait(), 10)
    assert order and order[0] == marker_site, order
    kinds = [e["k"] for e in pages.events(site)]
    assert kinds == ["pageview", "custom"]
    (early,) = pages.events(site, "custom")
    # The page's own script ran while prerendering: the tag held its event until activation.
    assert early["p"] == {"prerendered": True}
