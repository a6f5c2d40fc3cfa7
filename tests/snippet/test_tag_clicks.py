"""Clicks in Chromium: crediting, rules, descriptors, heatmap position, rage and dead clicks,
downloads and outbound links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import pytest

from tests.snippet.conftest import Pages, Visit

# Every link stays on the page: these tests are about events, not navigation.
STAY = "<script>document.addEventListener('click', e => e.preventDefault())</script>"


async def clicks_of(visit: Visit, site: str, kind: str = "click") -> list[dict[str, Any]]:
    """The site's events of a kind as the collector counts them (its link rules included)."""
    await visit.page.wait_for_timeout(1300)
    return visit.pages.counted(site, kind)


async def test_nearest_tagged_ancestor_gets_the_click(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "nest.html",
        """<div data-mcv="card" data-mcv-id="7" style="padding:40px">
             <button data-mcv="buy"><svg width="20" height="20"><rect id="icon" width="20"
               height="20"/></svg> Buy</button>
             <span id="plain">text</span>
           </div>""",
    )
    await visit.page.goto(pages.url("nest.html"))
    await visit.page.click("#icon")
    await visit.page.click("#plain")
    events = await clicks_of(visit, site)
    assert [(e["n"], e["p"].get("id")) for e in events] == [("buy", None), ("card", "7")]


async def test_css_rules_tag_elements_and_data_attributes_win(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "rules.html",
        """<a class="cta" href="#x">Start</a>
           <button class="cta" data-mcv="own">Own</button>
           <button id="bad">Bad selector is ignored</button>""",
        {"click_rules": {".cta": "cta_click", "[[bad": "never"}},
    )
    await visit.page.goto(pages.url("rules.html"))
    await visit.page.click("a.cta")
    await visit.page.click("button.cta")
    await visit.page.click("#bad")
    events = await clicks_of(visit, site)
    assert [e.get("n") for e in events] == ["cta_click", "own", None]
    assert events[2]["p"]["el"] == "button#bad"


async def test_untagged_links_and_buttons_carry_a_descriptor_never_a_value(
    visit: Visit, pages: Pages
) -> None:
    site = pages.write(
        "plain.html",
        """<form onsubmit="return false"><input type="submit" class="go big" value="SECRET">
           </form><a href="#top" id="top-link">Top</a><p id="text">not clickable</p>""",
    )
    await visit.page.goto(pages.url("plain.html"))
    await visit.page.click("input[type=submit]")
    await visit.page.click("#top-link")
    await visit.page.click("#text")
    events = await clicks_of(visit, site)
    assert [e["p"]["el"] for e in events] == ["input.go", "a#top-link"]
    assert all("n" not in e for e in events)
    assert "SECRET" not in str(pages.bodies(site))


async def test_click_position_is_relative_to_page_width_and_document_height(
    visit: Visit, pages: Pages
) -> None:
    site = pages.write(
        "pos.html",
        """<div style="height:3000px;position:relative">
           <button data-mcv="low" style="position:absolute;left:500px;top:2250px">low</button>
           </div><script>document.addEventListener('click', e => at = [e.pageX, e.pageY])
           </script>""",
    )
    await visit.page.goto(pages.url("pos.html"))
    await visit.page.click("button", position={"x": 1, "y": 1})
    (click,) = await clicks_of(visit, site)
    x, y, width, height = await visit.page.evaluate(
        "[...at, document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert click["p"]["x"] == round(x * 1000 / width)
    assert click["p"]["y"] == round(y * 1000 / height)
    assert 700 < click["p"]["y"] < 800
    # Activated by the keyboard: the same click, without a position.
    await visit.page.focus("button")
    await visit.page.keyboard.press("Enter")
    await visit.wait_for(site, "click", 2)
    keyboard = pages.events(site, "click")[1]
    assert keyboard["n"] == "low" and "x" not in keyboard.get("p", {})


async def test_rage_click_once_per_burst(visit: Visit, pages: Pages) -> None:
    site = pages.write("rage.html", "<button id='b'>nothing</button>", {"rage_clicks": True})
    await visit.page.goto(pages.url("rage.html"))
    for _ in range(5):
        await visit.page.click("#b", delay=0)
    await visit.page.wait_for_timeout(1200)
    await visit.page.click("#b")  # after a pause: no new burst
    rage = await clicks_of(visit, site, "rage_click")
    assert len(rage) == 1
    assert rage[0]["p"]["el"] == "button#b"


async def test_dead_click_only_when_nothing_happens(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "dead.html",
        """<button id="dead">does nothing</button>
           <button id="live" onclick="document.body.append('!')">changes the page</button>""",
        {"dead_clicks": True},
    )
    await visit.page.goto(pages.url("dead.html"))
    await visit.page.click("#dead")
    await visit.wait_for(site, "dead_click")
    await visit.page.click("#live")
    await visit.page.wait_for_timeout(2500)
    dead = pages.events(site, "dead_click")
    assert [e["p"]["el"] for e in dead] == ["button#dead"]


@pytest.mark.parametrize(
    ("href", "attrs", "expected"),
    [
        ("files/Report.PDF?v=2#page=3", "", ("Report.PDF", "pdf")),
        ("files/Mugs.tar.gz", "", ("Mugs.tar.gz", "tar.gz")),
        ("files/my%20notes.docx", "", ("my notes.docx", "docx")),
        ("files/setup.bin", 'download="setup-1.2.bin"', ("setup-1.2.bin", None)),
        ("files/data.epub2", "", None),
        ("page.html?file=report.pdf", "", None),
        ("https://files.pdf.example/", "", None),
        ("/v1.2/index", "", None),
        ("files/custom.mcv", "", ("custom.mcv", "mcv")),
    ],
)
async def test_download_rule(
    visit: Visit, pages: Pages, href: str, attrs: str, expected: tuple[str, str | None] | None
) -> None:
    site = pages.write(
        "dl.html",
        f'{STAY}<a href="{href}" {attrs}>get it</a>',
        {"download_extensions": ["mcv"], "outbound": False},
    )
    await visit.page.goto(pages.url("dl.html"))
    await visit.page.click("a")
    downloads = await clicks_of(visit, site, "download")
    # What the tag sends: the link without its query and fragment, and its download attribute.
    (sent,) = pages.events(site, "click")
    assert sent["p"]["href"] == urljoin(pages.url("dl.html"), href.split("?")[0])
    assert sent["p"].get("dl") == ("setup-1.2.bin" if attrs else None)
    if expected is None:
        assert downloads == []
        assert len(pages.counted(site, "click")) == 1  # an untagged link instead
    else:
        (download,) = downloads
        assert (download["n"], download.get("p", {}).get("ext")) == expected
        assert pages.counted(site, "click") == []


async def test_blob_and_data_downloads_are_never_sent_raw(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "blob.html",
        f"""{STAY}<a id="data" href="data:text/plain,SECRET" download="notes.txt">data</a>
            <a id="blob">blob</a>
            <script>document.getElementById('blob').href =
              URL.createObjectURL(new Blob(['SECRET'])); blob.download = ''</script>""",
    )
    await visit.page.goto(pages.url("blob.html"))
    await visit.page.click("#data")
    await visit.page.click("#blob")
    downloads = await clicks_of(visit, site, "download")
    assert [d["n"] for d in downloads] == ["notes.txt", "blob"]
    # The tag sends only the scheme of a blob: or data: URL.
    assert [e["p"]["href"] for e in pages.events(site, "click")] == ["data:", "blob:"]
    assert "SECRET" not in str(pages.bodies(site))
    assert "blob:" not in str(downloads)


async def test_outbound_left_middle_and_modifier_clicks_each_once(
    visit: Visit, pages: Pages
) -> None:
    site = pages.write(
        "out.html",
        """<a id="out" href="http://127.0.0.2:9/offsite?q=1">offsite</a>
           <a id="blank" href="http://127.0.0.2:9/new" target="_blank">new tab</a>
           <script>window.prevented = 0; document.addEventListener('click',
             e => { if (e.defaultPrevented) prevented++ })</script>""",
    )
    await visit.page.goto(pages.url("out.html"))
    await visit.page.click("#out", button="middle")
    await visit.page.click("#out", modifiers=["Control"])
    await visit.page.click("#out", modifiers=["Shift"])
    async with visit.context.expect_page() as popup:
        await visit.page.click("#blank")
    await (await popup.value).close()
    outbound = await clicks_of(visit, site, "outbound")
    assert [(e["n"], e["p"]["url"]) for e in outbound] == [
        ("127.0.0.2", "http://127.0.0.2:9/offsite"),
        ("127.0.0.2", "http://127.0.0.2:9/offsite"),
        ("127.0.0.2", "http://127.0.0.2:9/offsite"),
        ("127.0.0.2", "http://127.0.0.2:9/new"),
    ]
    assert await visit.page.evaluate("window.prevented") == 0
    # Left click last: the page goes away, and the event still arrives (page-hide flush).
    await visit.page.click("#out", no_wait_after=True)
    await visit.wait_until(lambda: len(pages.counted(site, "outbound")) == 5)
