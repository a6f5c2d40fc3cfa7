"""Scroll depth, forms, element visibility and engaged time in Chromium."""

from __future__ import annotations

from tests.snippet.conftest import Pages, Visit

LONG = "<div style='height:4000px'>long</div>"


async def scroll_through(visit: Visit, script: str, steps: int = 12) -> None:
    for i in range(steps + 1):
        await visit.page.evaluate(script.replace("FRACTION", str(i / steps)))
        await visit.page.wait_for_timeout(40)


async def test_milestones_once_each_and_max_depth_when_hidden(visit: Visit, pages: Pages) -> None:
    site = pages.write("long.html", LONG)
    await visit.page.goto(pages.url("long.html"))
    await scroll_through(visit, "scrollTo(0, FRACTION * 2000)")  # half way, in steps
    await scroll_through(visit, "scrollTo(0, 0)", 1)
    await visit.hide()
    events = await visit.wait_for(site, "scroll", 3)
    assert [(e["n"], e.get("p")) for e in events] == [
        ("25", {}),
        ("50", {}),
        ("max", {"depth": round((2000 + 600 + 2) * 100 / 4016)}),
    ]


async def test_content_scrolling_inside_main(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "main.html",
        f"<main style='height:100vh;overflow:auto'>{LONG}</main>"
        "<style>html,body{{margin:0;height:100%;overflow:hidden}}</style>",
    )
    await visit.page.goto(pages.url("main.html"))
    await scroll_through(visit, "document.querySelector('main').scrollTop = FRACTION * 4000")
    events = await visit.wait_for(site, "scroll", 5)
    assert [e["n"] for e in events] == ["25", "50", "75", "90", "100"]
    assert await visit.page.evaluate("scrollY") == 0  # the document itself never scrolled


async def test_a_small_scrolling_box_is_not_the_page(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "box.html", f"<div id='box' style='height:100px;overflow:auto'>{LONG}</div>{LONG}"
    )
    await visit.page.goto(pages.url("box.html"))
    await scroll_through(visit, "box.scrollTop = FRACTION * 4000")
    await visit.page.wait_for_timeout(1300)
    assert pages.events(site, "scroll") == []


async def test_configured_scroll_root(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "root.html",
        f"<div id='feed' style='height:200px;overflow:auto'>{LONG}</div>{LONG}",
        {"scroll_root": "#feed", "scroll_milestones": [50, 100]},
    )
    await visit.page.goto(pages.url("root.html"))
    await scroll_through(visit, "scrollTo(0, FRACTION * 4000)")  # the document: not measured
    await scroll_through(visit, "feed.scrollTop = FRACTION * 4000")
    events = await visit.wait_for(site, "scroll", 2)
    await visit.page.wait_for_timeout(1300)
    assert [e["n"] for e in pages.events(site, "scroll")] == ["50", "100"]
    assert [e["n"] for e in events] == ["50", "100"]


async def test_infinite_scroll_keeps_fired_milestones(visit: Visit, pages: Pages) -> None:
    site = pages.write("feed.html", "<div id='feed' style='height:1200px'>feed</div>")
    await visit.page.goto(pages.url("feed.html"))
    for _ in range(4):
        # To the bottom; then the feed loads more and the page doubles.
        await scroll_through(visit, "scrollTo(0, document.documentElement.scrollHeight)", 1)
        await visit.page.evaluate("feed.style.height = feed.offsetHeight * 2 + 'px'")
    await visit.page.wait_for_timeout(1300)
    assert [e["n"] for e in pages.events(site, "scroll")] == ["25", "50", "75", "90", "100"]


async def test_page_that_cannot_scroll_sends_no_scroll(visit: Visit, pages: Pages) -> None:
    site = pages.write("short.html", "<p>short</p>")
    await visit.page.goto(pages.url("short.html"))
    await visit.page.evaluate(
        "dispatchEvent(new Event('scroll')); document.dispatchEvent(new Event('scroll'))"
    )
    await visit.hide()
    await visit.wait_for(site, "pageview")
    await visit.page.wait_for_timeout(300)
    assert pages.events(site, "scroll") == []


async def test_milestones_reset_on_single_page_navigation(visit: Visit, pages: Pages) -> None:
    site = pages.write("spa-scroll.html", LONG, {"scroll_milestones": [25], "scroll_max": False})
    await visit.page.goto(pages.url("spa-scroll.html"))
    await scroll_through(visit, "scrollTo(0, FRACTION * 1000)", 2)
    await visit.page.evaluate("history.pushState({}, '', '/next'); scrollTo(0, 0)")
    await scroll_through(visit, "scrollTo(0, FRACTION * 1000)", 2)
    events = await visit.wait_for(site, "scroll", 2)
    assert len({e["pv"] for e in events}) == 2


async def test_form_start_submit_and_abandon(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "forms.html",
        """<form id="signup" onsubmit="return false"><input name="email"><button>Go</button>
           </form><form name="search"><input name="q"></form><form><input id="anon"></form>""",
        {"forms": True},
    )
    await visit.page.goto(pages.url("forms.html"))
    await visit.page.fill("#signup input", "ana@example.com")
    await visit.page.type("#signup input", "x")
    await visit.page.click("#signup button")
    await visit.page.fill("form[name=search] input", "SECRET QUERY")
    await visit.page.fill("#anon", "y")
    await visit.page.goto(pages.url("short.html"))  # leave: the started forms are abandoned
    await visit.wait_for(site, "form_abandon", 2)
    # Events queued before the page was hidden and those sent as it is hidden go out as
    # separate beacons, which may reach the server in either order: compare them as a set.
    events = sorted((e["k"], e["n"]) for e in pages.events(site) if e["k"].startswith("form_"))
    assert events == sorted(
        [
            ("form_start", "signup"),
            ("form_submit", "signup"),
            ("form_start", "search"),
            ("form_start", "form2"),
            ("form_abandon", "search"),
            ("form_abandon", "form2"),
        ]
    )
    assert "SECRET" not in str(pages.bodies(site)) and "ana@" not in str(pages.bodies(site))


async def test_visible_for_a_second_once_per_pageview(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "reviews.html",
        f"{LONG}<section id='reviews' style='height:300px'>reviews</section>{LONG}"
        "<div class='late'></div>",
        {"visible": {"#reviews": "reviews_seen", ".later": "later_seen"}},
    )
    await visit.page.goto(pages.url("reviews.html"))
    # A glance shorter than a second does not count.
    await visit.page.evaluate("reviews.scrollIntoView()")
    await visit.page.wait_for_timeout(300)
    await visit.page.evaluate("scrollTo(0, 0)")
    await visit.page.wait_for_timeout(1500)
    assert pages.events(site, "visible") == []
    await visit.page.evaluate("reviews.scrollIntoView()")
    await visit.wait_for(site, "visible")
    await visit.page.evaluate("scrollTo(0, 0)")
    await visit.page.evaluate("reviews.scrollIntoView()")
    # An element added later (a framework rendering) is found too.
    await visit.page.evaluate(
        "document.body.insertAdjacentHTML('afterbegin', '<p class=later>hi</p>'); scrollTo(0, 0)"
    )
    await visit.wait_for(site, "visible", 2)
    await visit.page.wait_for_timeout(1500)
    assert [e["n"] for e in pages.events(site, "visible")] == ["reviews_seen", "later_seen"]


async def test_engaged_time_counts_activity_while_visible(visit: Visit, pages: Pages) -> None:
    site = pages.write("engaged.html", LONG, {"engaged": True})
    await visit.page.goto(pages.url("engaged.html"))
    for _ in range(6):
        await visit.page.mouse.move(10, 10)
        await visit.page.wait_for_timeout(200)
        await visit.page.mouse.move(20, 20)
    await visit.hide()
    (engaged,) = await visit.wait_for(site, "engaged")
    assert 1000 <= engaged["p"]["ms"] <= 5000
