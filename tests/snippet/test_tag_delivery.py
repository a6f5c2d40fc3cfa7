"""Delivery and the API in Chromium: ids, batching, refused beacons, retries from storage,
large batches at page hide, a stalled collector, strict CSP, capped values, variants."""

from __future__ import annotations

from snippet.generator import render_inline
from snippet.sites import Site
from tests.snippet.conftest import Pages, Visit

SLOW = {"flush_ms": 60_000, "batch_size": 100}


async def test_ids_are_unique_and_the_batch_carries_its_send_time(
    visit: Visit, pages: Pages
) -> None:
    site = pages.write("ids.html", "<p>x</p>", {"batch_size": 5})
    await visit.page.goto(pages.url("ids.html"))
    await visit.page.evaluate("for (let i = 0; i < 9; i++) microcv('event', 'e' + i)")
    events = await visit.wait_for(site, "custom", 9)
    assert len({e["i"] for e in pages.events(site)}) == 10
    for body in pages.bodies(site):
        assert "v" not in body and all(body["t"] >= e["ts"] for e in body["e"])
    # A full batch goes out at once: two beacons, sent back to back, which the server may take
    # in either order; each keeps its events in the order they were made.
    batches = sorted([e.get("n", "") for e in b["e"]] for b in pages.bodies(site))
    assert batches == [["", "e0", "e1", "e2", "e3"], ["e4", "e5", "e6", "e7", "e8"]]
    assert sorted(e["n"] for e in events) == [f"e{i}" for i in range(9)]


async def test_a_refused_beacon_is_split(visit: Visit, pages: Pages) -> None:
    site = pages.write("split.html", "<p>x</p>", SLOW)
    # A browser that queues at most two events a beacon.
    await visit.page.add_init_script(
        """const real = navigator.sendBeacon.bind(navigator); window.calls = [];
        navigator.sendBeacon = (url, body) => {
            const n = JSON.parse(body).e.length; calls.push(n); return n <= 2 && real(url, body);
        };"""
    )
    await visit.page.goto(pages.url("split.html"))
    await visit.page.evaluate("for (let i = 0; i < 4; i++) microcv('event', 'e' + i)")
    await visit.hide()
    await visit.wait_for(site, "custom", 4)
    assert await visit.page.evaluate("calls") == [5, 2, 3, 1, 2]
    assert sorted(len(b["e"]) for b in pages.bodies(site)) == [1, 2, 2]


async def test_failed_sends_are_retried_from_the_next_page_with_the_same_ids(
    visit: Visit, pages: Pages
) -> None:
    # The beacon is refused, and the fetch fallback meets a collector answering 503.
    site = pages.write("fail.html", "<p>x</p>", collector=pages.base + "/fail")
    pages.write("ok.html", "<p>y</p>", site=site)
    await visit.page.add_init_script("navigator.sendBeacon = () => false")
    await visit.page.goto(pages.url("fail.html"))
    await visit.page.evaluate("microcv('event', 'kept', {n: 1})")
    await visit.page.wait_for_timeout(1500)
    kept = await visit.page.evaluate(f"JSON.parse(localStorage['microcv:{site}'])")
    # Sent as one batch or two (the flush timer may fire between them), refused fetches
    # settle in either order: the store holds both, in whichever order they failed.
    assert sorted(e["k"] for e in kept) == ["custom", "pageview"]
    assert pages.bodies(site) == []
    await visit.page.goto(pages.url("ok.html"))
    await visit.wait_for(site, "pageview", 2)
    await visit.page.wait_for_timeout(1300)
    arrived = pages.events(site)
    # The stored batch and the new page's pageview go out as separate beacons, which may reach
    # the server in either order: the ids must be the stored ones, each exactly once.
    ids = [e["i"] for e in arrived]
    assert sorted(ids) == sorted({*ids})
    assert {e["i"] for e in kept} <= set(ids)
    assert sorted(e["k"] for e in arrived) == ["custom", "pageview", "pageview"]
    # Sent once: the queue is gone from storage.
    assert await visit.page.evaluate(f"localStorage['microcv:{site}']") is None


async def test_thirty_events_of_3_kb_queued_at_page_hide_all_arrive(
    visit: Visit, pages: Pages
) -> None:
    site = pages.write("big.html", "<a href='next.html'>next</a>", SLOW)
    pages.write("next.html", "<p>next</p>", site=site)
    await visit.page.goto(pages.url("big.html"))
    await visit.page.evaluate(
        """for (let i = 0; i < 30; i++) {
            const props = {};
            for (let j = 0; j < 6; j++) props['p' + j] = String(i).padStart(500, 'x');
            microcv('event', 'big' + i, props);
        }"""
    )
    await visit.page.click("a")
    await visit.page.wait_for_url("**/next.html")
    # What the page could not send as it went away, the next page sends (see docs/tag.md).
    await visit.wait_for(site, "custom", 30, timeout_ms=10_000)
    names = sorted(e["n"] for e in pages.events(site, "custom"))
    assert names == sorted(f"big{i}" for i in range(30))
    assert all(len(e["p"]) == 6 for e in pages.events(site, "custom"))


async def test_a_stalled_collector_does_not_hold_navigation(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "stall.html",
        "<a id='go' data-mcv='go' href='after.html'>go</a>",
        collector=pages.base + "/stall",
    )
    pages.write("after.html", "<p>after</p>", site=site, collector=pages.base + "/stall")
    await visit.page.goto(pages.url("stall.html"))
    await visit.page.evaluate("microcv('event', 'before')")
    await visit.page.wait_for_timeout(1200)  # a beacon is now stuck on the collector
    await visit.page.click("#go")
    # The collector answers after 10 s; the next page must not wait for it.
    await visit.page.wait_for_url("**/after.html", timeout=3000)
    assert await visit.page.evaluate("document.readyState") == "complete"


async def test_csp_without_the_collector_keeps_the_page_working(visit: Visit, pages: Pages) -> None:
    site = pages.write(
        "csp.html",
        "<button data-mcv='buy' onclick='this.textContent=\"ok\"'>buy</button>",
        head="<meta http-equiv='Content-Security-Policy' content=\"connect-src 'none'\">",
    )
    await visit.page.goto(pages.url("csp.html"))
    await visit.page.click("button")
    await visit.hide()
    await visit.page.wait_for_timeout(1500)
    assert await visit.page.text_content("button") == "ok"
    assert visit.errors == []
    assert pages.bodies(site) == []


async def test_inline_tag_with_a_nonce_under_a_strict_csp(visit: Visit, pages: Pages) -> None:
    site = Site(id="t-nonce", domains=("127.0.0.1",), tag={"allow_webdriver": True})
    tag = render_inline(site, pages.base, nonce="r4nd0m")
    (pages.root / "nonce.html").write_text(
        "<!doctype html><html><head><meta http-equiv='Content-Security-Policy' content=\""
        "default-src 'none'; script-src 'nonce-r4nd0m'; connect-src 'self'\">"
        f"{tag}</head><body><button data-mcv='buy'>buy</button></body></html>"
    )
    await visit.page.goto(pages.url("nonce.html"))
    await visit.page.click("button")
    await visit.wait_for("t-nonce", "click")
    assert visit.errors == []


async def test_values_are_capped_on_code_point_boundaries(visit: Visit, pages: Pages) -> None:
    site = pages.write("cap.html", "<p>x</p>")
    await visit.page.goto(pages.url("cap.html"))
    await visit.page.evaluate(
        """microcv('event', '\\u{1F600}'.repeat(150), {
            s: '\\u{1F600}'.repeat(600), ['k'.repeat(70)]: 1, n: 1.5, b: false, o: {x: 1},
            a: [1], z: null, u: undefined, inf: Infinity,
        })"""
    )
    (event,) = await visit.wait_for(site, "custom")
    assert event["n"] == "\U0001f600" * 100
    assert event["p"] == {"s": "\U0001f600" * 500, "k" * 64: 1, "n": 1.5, "b": False}


async def test_variants_tag_later_events_and_identify_takes_opaque_ids(
    visit: Visit, pages: Pages
) -> None:
    site = pages.write("ab.html", "<button data-mcv='buy'>buy</button>", {"variants": True})
    await visit.page.goto(pages.url("ab.html"))
    await visit.page.evaluate(
        "microcv('variant', 'checkout', 'B'); microcv('identify', 'ana@example.com');"
        "microcv('identify', 'crm:4711')"
    )
    await visit.page.click("button")
    (click,) = await visit.wait_for(site, "click")
    (variant,) = pages.events(site, "variant")
    assert (variant["n"], variant["p"]) == ("checkout", {"variant": "B", "exp:checkout": "B"})
    assert click["p"]["exp:checkout"] == "B"
    assert click["p"]["uid"] == "crm:4711"
    assert "ana@" not in str(pages.bodies(site))
