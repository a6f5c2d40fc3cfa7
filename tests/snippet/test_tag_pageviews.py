"""Pageviews in Chromium: single-page apps, back/forward cache, prerendering, privacy switches."""

from __future__ import annotations

import pytest

from tests.snippet.conftest import Pages, Visit


async def test_history_navigations_are_one_pageview_each(visit: Visit, pages: Pages) -> None:
    site = pages.write("spa/a.html", "<p>app</p>")
    await visit.page.goto(pages.url("spa/a.html"))
    await visit.wait_for(site, "pageview")
    page = visit.page
    await page.evaluate("history.pushState({}, '', '/spa/b')")
    await page.evaluate("history.replaceState({}, '', '/spa/b')")  # same URL: nothing
    await page.evaluate("history.replaceState({}, '', '/spa/c')")  # a new URL: a pageview
    await page.evaluate("history.pushState({}, '', '/spa/c#part')")  # fragment only: nothing
    await visit.wait_for(site, "pageview", 3)
    await page.go_back()  # /spa/c#part -> /spa/c: the same page
    await page.go_back()  # /spa/c -> /spa/a: one pageview for one Back press
    views = await visit.wait_for(site, "pageview", 4)
    await page.wait_for_timeout(1500)
    views = pages.events(site, "pageview")
    assert [v["u"].removeprefix(pages.base) for v in views] == [
        "/spa/a.html",
        "/spa/b",
        "/spa/c",
        "/spa/a.html",
    ]
    assert len({v["pv"] for v in views}) == 4
    # The previous page is the referrer of a single-page app's pageview.
    assert views[1]["r"].endswith("/spa/a.html")


async def test_back_from_a_fragment_after_push_state_is_one_pageview(
    visit: Visit, pages: Pages
) -> None:
    site = pages.write("frag/a.html", "<p>tabs</p>")
    await visit.page.goto(pages.url("frag/a.html"))
    await visit.page.evaluate("history.pushState({}, '', '#tab')")
    await visit.page.go_back()
    await visit.page.wait_for_timeout(1500)
    assert len(pages.events(site, "pageview")) == 1


async def test_hash_switch_counts_fragments_once_per_back_press(visit: Visit, pages: Pages) -> None:
    site = pages.write("hash/a.html", "<a href='#tab' id='t'>tab</a>", {"hash": True})
    await visit.page.goto(pages.url("hash/a.html"))
    await visit.page.click("#t")  # popstate, then hashchange: one pageview
    await visit.wait_for(site, "pageview", 2)
    await visit.page.go_back()  # popstate + hashchange: one pageview
    await visit.wait_for(site, "pageview", 3)
    # A fragment set by a script is a fragment navigation too (the tag listens to popstate only).
    await visit.page.evaluate("location.hash = 'more'")
    await visit.wait_for(site, "pageview", 4)
    await visit.page.wait_for_timeout(1500)
    urls = [v["u"].removeprefix(pages.base) for v in pages.events(site, "pageview")]
    assert urls == ["/hash/a.html", "/hash/a.html#tab", "/hash/a.html", "/hash/a.html#more"]


async def test_back_forward_cache_restore_is_a_fresh_pageview(visit: Visit, pages: Pages) -> None:
    site = pages.write("bf/a.html", "<p>a</p>")
    await visit.page.goto(pages.url("bf/a.html"))
    (first,) = await visit.wait_for(site, "pageview")
    # What Chromium fires when it restores a page from the back/forward cache.
    await visit.page.evaluate(
        "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"
    )
    views = await visit.wait_for(site, "pageview", 2)
    assert views[1]["pv"] != first["pv"]
    await visit.page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow'))")
    await visit.page.wait_for_timeout(1500)
    assert len(pages.events(site, "pageview")) == 2


async def test_prerendered_page_sends_nothing_until_activated(visit: Visit, pages: Pages) -> None:
    site = pages.write("pre/a.html", "<p>a</p>")
    # The page calls the API early through the queue stub, as the docs say to.
    await visit.page.add_init_script(
        "Object.defineProperty(document, 'prerendering', {get: () => !window.__activated,"
        " configurable: true});"
        "window.microcv=window.microcv||function(){(microcv.q=microcv.q||[]).push(arguments)}"
    )
    await visit.page.goto(pages.url("pre/a.html"))
    await visit.page.evaluate("microcv('event', 'early')")
    await visit.page.wait_for_timeout(1500)
    assert pages.bodies(site) == []
    await visit.page.evaluate(
        "window.__activated = 1; document.dispatchEvent(new Event('prerenderingchange'))"
    )
    events = await visit.wait_for(site, "custom")
    assert [e["k"] for e in pages.events(site)] == ["pageview", "custom"]
    assert events[0]["n"] == "early"
    assert visit.errors == []


@pytest.mark.parametrize(
    ("options", "init"),
    [
        ({"allow_webdriver": False}, ""),
        ({}, "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"),
        ({"dnt": True}, "Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})"),
    ],
    ids=["webdriver", "gpc", "dnt"],
)
async def test_privacy_switches_send_nothing(
    visit: Visit, pages: Pages, options: dict[str, bool], init: str
) -> None:
    site = pages.write("priv.html", "<button data-mcv='buy'>buy</button>", options)
    if init:
        await visit.page.add_init_script(init)
    await visit.page.goto(pages.url("priv.html"))
    await visit.page.click("button")
    await visit.page.evaluate("microcv('event', 'x')")
    await visit.page.wait_for_timeout(1500)
    assert pages.bodies(site) == []
    assert visit.errors == []


async def test_do_not_track_is_ignored_unless_configured(visit: Visit, pages: Pages) -> None:
    site = pages.write("dnt.html", "<p>a</p>")
    await visit.page.add_init_script(
        "Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})"
    )
    await visit.page.goto(pages.url("dnt.html"))
    await visit.wait_for(site, "pageview")


async def test_consent_mode_holds_events_until_consent(visit: Visit, pages: Pages) -> None:
    site = pages.write("consent.html", "<button data-mcv='buy'>buy</button>", {"consent": True})
    await visit.page.goto(pages.url("consent.html"))
    await visit.page.click("button")
    await visit.page.wait_for_timeout(1500)
    assert pages.bodies(site) == []
    stored = await visit.page.evaluate("JSON.stringify(localStorage)")
    assert stored == "{}"
    await visit.page.evaluate("microcv('consent', true)")
    await visit.wait_for(site, "click")
    assert [e["k"] for e in pages.events(site)] == ["pageview", "click"]


async def test_a_long_same_origin_referrer_is_cut_to_what_the_collector_takes(
    visit: Visit, pages: Pages
) -> None:
    # A same-origin referrer is the previous page's whole URL; Chromium keeps up to 4096 bytes.
    before = pages.write("ref/from.html", "<a id='go' href='/ref/to.html'>next</a>")
    site = pages.write("ref/to.html", "<p>to</p>")
    await visit.page.goto(pages.url("ref/from.html") + "?q=" + "x" * 3000)
    await visit.wait_for(before, "pageview")
    await visit.page.click("#go")
    (view,) = await visit.wait_for(site, "pageview")
    assert len(view["r"]) == 2048
    assert view["r"].startswith(pages.url("ref/from.html?q=xxx"))
