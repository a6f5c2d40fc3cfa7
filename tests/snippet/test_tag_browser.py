"""The tag in real Chromium: demo pages, a real action, the beacon intercepted, a partial payload.

No microcv service runs here: the pages are served by a throwaway static server and every POST to
the collector URL is answered 204 by Playwright's router, which records the body.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from snippet.generator import render_inline, render_script
from snippet.paste import paste_into_dir
from snippet.sites import Site
from tests.snippet.conftest import counted

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo"
CHROMIUM = "/usr/bin/chromium"
# Nothing listens here: a beacon that escaped the router would fail, not reach a real collector.
COLLECTOR = "http://127.0.0.1:9"
ENDPOINT = COLLECTOR + "/v1/collect"
SITE = Site(id="demo", domains=("127.0.0.1",), tag={"allow_webdriver": True})
# Same site, but the timer never fires within a test: only page hide or a full batch sends.
SLOW_SITE = Site(
    id="demo", domains=("127.0.0.1",), tag={"flush_ms": 60_000, "allow_webdriver": True}
)


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus a stand-in collector that keeps what is POSTed to it."""

    received: list[dict[str, Any]]
    # Chromium may open a connection it never uses; do not wait on it forever at shutdown.
    timeout = 5

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    # Join request threads on close, so no connection socket outlives the fixture.
    daemon_threads = False


@dataclass
class Server:
    base: str
    received: list[dict[str, Any]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo shop served three times over, each with its own rendering of the tag.

    /default/ and /slow/ send to COLLECTOR, where the router answers; /live/ sends to this server
    itself, for beacons sent as a page goes away, which Chromium does not pass through the router.
    """
    root = tmp_path_factory.mktemp("demo")
    received: list[dict[str, Any]] = []
    handler_class = type("Handler", (_Handler,), {"received": received})
    handler = functools.partial(handler_class, directory=str(root))
    server = _Server(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    try:
        for name, site, collector in (
            ("default", SITE, COLLECTOR),
            ("slow", SLOW_SITE, COLLECTOR),
            ("live", SLOW_SITE, base),
        ):
            paste_into_dir(DEMO, root / name, render_inline(site, collector))
        thread.start()
        yield Server(base=base, received=received)
    finally:
        if thread.is_alive():
            server.shutdown()
            thread.join(5)
        server.server_close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Beacons:
    """Beacon bodies as the collector would have received them, in arrival order."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for b in self.bodies for e in b["e"] if kind is None or e["k"] == kind]

    def counted(self, kind: str | None = None) -> list[dict[str, Any]]:
        """As the collector counts them (its link rules make downloads of link clicks)."""
        return counted(self.events(), dict(SITE.tag), kind)


@dataclass
class Tab:
    page: Page
    beacons: Beacons
    base: str

    async def open(self, path: str) -> None:
        await self.page.goto(f"{self.base}/{path}")

    async def wait_until(self, done: Callable[[], bool], timeout_ms: int = 5000) -> None:
        for _ in range(timeout_ms // 50):
            if done():
                return
            await self.page.wait_for_timeout(50)
        raise AssertionError(f"timed out; beacons so far: {self.beacons.bodies}")

    async def wait_for(self, kind: str, count: int = 1) -> list[dict[str, Any]]:
        await self.wait_until(lambda: len(self.beacons.events(kind)) >= count)
        return self.beacons.events(kind)

    async def settle(self, ms: int = 1500) -> None:
        """Wait past the flush delay so anything that would be sent has been."""
        await self.page.wait_for_timeout(ms)


# The server is asked for first so it is torn down last, after Chromium has closed its sockets.
@pytest.fixture
async def tab(server: Server, browser: Browser) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    beacons = Beacons()

    async def collect(route: Route) -> None:
        request = route.request
        if request.method == "POST":
            beacons.bodies.append(json.loads(request.post_data or "null"))
            beacons.content_types.append(request.headers.get("content-type", ""))
        await route.fulfill(status=204)

    await context.route(ENDPOINT, collect)
    try:
        yield Tab(page=await context.new_page(), beacons=beacons, base=f"{server.base}/default")
    finally:
        await context.close()


async def test_pageview_on_load(tab: Tab) -> None:
    await tab.open("product.html")
    (event,) = await tab.wait_for("pageview")
    body = tab.beacons.bodies[0]
    # No "v": the collector takes a beacon without it as version 1 (docs/protocol.md).
    assert "v" not in body
    assert body["s"] == "demo"
    assert isinstance(body["t"], int)
    assert event["u"].endswith("/default/product.html")
    assert event["i"] and event["pv"] and "n" not in event
    assert tab.beacons.content_types[0].startswith("text/plain")


async def test_click_on_svg_path_credits_the_tagged_button(tab: Tab) -> None:
    await tab.open("product.html")
    pageview = (await tab.wait_for("pageview"))[0]
    # A point on the cart's left wheel: the path itself, not the <svg> around it, is hit.
    await tab.page.click("button[data-mcv] svg path", position={"x": 5, "y": 13})
    (click,) = await tab.wait_for("click")
    assert click["n"] == "add_to_cart"
    assert click["p"]["sku"] == "MUG-1"
    assert click["pv"] == pageview["pv"]
    assert click["i"] != pageview["i"]
    await tab.settle()
    assert len(tab.beacons.events("click")) == 1
    assert tab.beacons.counted("download") == []


async def test_click_from_a_text_node(tab: Tab) -> None:
    await tab.open("product.html")
    await tab.page.evaluate(
        """() => document.querySelector('button[data-mcv] span').firstChild
            .dispatchEvent(new MouseEvent('click', {bubbles: true}))"""
    )
    (click,) = await tab.wait_for("click")
    assert click["n"] == "add_to_cart"


async def test_pdf_link_is_one_download(tab: Tab) -> None:
    await tab.open("product.html")
    # Keep the page in place: this test is about the event, not the browser's PDF handling.
    await tab.page.evaluate("document.addEventListener('click', e => e.preventDefault())")
    await tab.page.click("text=Download the white paper")
    # The tag sends the link; the collector (collector/links.py) makes it a download.
    (click,) = await tab.wait_for("click")
    assert "n" not in click
    assert click["p"]["href"] == f"{tab.base}/files/whitepaper.pdf"
    await tab.settle()
    (download,) = tab.beacons.counted("download")
    assert download["n"] == "whitepaper.pdf"
    assert download["p"] == {"ext": "pdf"}
    assert tab.beacons.counted("click") == []


async def test_tagged_download_link_sends_only_the_click(tab: Tab) -> None:
    await tab.open("product.html")
    await tab.page.evaluate(
        """() => {
            document.addEventListener('click', e => e.preventDefault());
            const a = document.createElement('a');
            a.href = 'files/Mugs.TAR.GZ?v=2#x';
            a.dataset.mcv = 'get_archive';
            a.textContent = 'archive';
            document.body.prepend(a);
        }"""
    )
    await tab.page.click("text=archive")
    (click,) = await tab.wait_for("click")
    assert click["n"] == "get_archive"
    assert "href" not in click.get("p", {})
    await tab.settle()
    assert tab.beacons.counted("download") == []
    assert len(tab.beacons.counted("click")) == 1


async def test_untagged_link_with_query_extension_is_no_download(tab: Tab) -> None:
    await tab.open("product.html")
    await tab.page.evaluate(
        """() => {
            document.addEventListener('click', e => e.preventDefault());
            const a = document.createElement('a');
            a.href = 'page.html?file=report.pdf';
            a.textContent = 'not a file';
            document.body.prepend(a);
        }"""
    )
    await tab.page.click("text=not a file")
    await tab.settle()
    (click,) = tab.beacons.events("click")
    assert click["p"]["href"] == f"{tab.base}/page.html"
    assert tab.beacons.counted("download") == []
    assert len(tab.beacons.counted("click")) == 1
    assert len(tab.beacons.events("pageview")) == 1


async def test_scroll_milestones_once_each(tab: Tab) -> None:
    await tab.open("article.html")
    height, view = await tab.page.evaluate(
        "[document.documentElement.scrollHeight, window.innerHeight]"
    )
    assert height >= 4 * view
    # Down in half screens to the bottom, back to the top, and down again.
    for y in [*range(0, height, view // 2), height, 0, height]:
        await tab.page.evaluate(f"window.scrollTo(0, {y})")
        await tab.page.wait_for_timeout(30)
    events = await tab.wait_for("scroll", 5)
    assert [e["n"] for e in events] == ["25", "50", "75", "90", "100"]
    await tab.settle()
    assert len(tab.beacons.events("scroll")) == 5


async def test_page_that_cannot_scroll_sends_no_scroll(tab: Tab) -> None:
    await tab.page.set_viewport_size({"width": 1280, "height": 3000})
    await tab.open("index.html")
    await tab.page.evaluate("window.dispatchEvent(new Event('scroll'))")
    await tab.wait_for("pageview")
    await tab.settle()
    assert tab.beacons.events("scroll") == []


async def test_events_flush_when_the_page_is_left(tab: Tab, server: Server) -> None:
    tab.base = tab.base.replace("/default", "/live")
    server.received.clear()
    await tab.open("product.html")
    await tab.page.click("button[data-mcv]")
    await tab.page.wait_for_timeout(100)
    # flush_ms is a minute here: only pagehide can have sent these.
    assert server.received == []
    await tab.open("index.html")
    await tab.wait_until(lambda: len(server.received) >= 1)
    assert [e["k"] for e in server.received[0]["e"]] == ["pageview", "click"]
    assert server.received[0]["e"][1]["n"] == "add_to_cart"


async def test_events_flush_when_the_page_is_hidden(tab: Tab) -> None:
    tab.base = tab.base.replace("/default", "/slow")
    await tab.open("product.html")
    # Headless Chromium never hides a page; make it look hidden and say so.
    await tab.page.evaluate(
        """() => {
            Object.defineProperty(document, 'visibilityState', {get: () => 'hidden'});
            Object.defineProperty(document, 'hidden', {get: () => true});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    await tab.wait_for("pageview")
    # While hidden, an event goes out at once.
    await tab.page.evaluate("microcv('event', 'late', {n: 1})")
    (late,) = await tab.wait_for("custom")
    assert late["n"] == "late"
    assert len(tab.beacons.bodies) == 2


async def test_full_batch_flushes_without_waiting(tab: Tab) -> None:
    tab.base = tab.base.replace("/default", "/slow")
    await tab.open("product.html")
    await tab.page.evaluate("for (let i = 0; i < 9; i++) microcv('event', 'e' + i)")
    await tab.wait_for("custom", 9)
    assert len(tab.beacons.bodies) == 1
    assert len(tab.beacons.bodies[0]["e"]) == 10


async def test_custom_event_and_queue_stub(tab: Tab) -> None:
    # What a page pastes before the tag to call the API early; the tag replays the queue.
    await tab.page.add_init_script(
        "window.microcv=window.microcv||function(){(microcv.q=microcv.q||[]).push(arguments)};"
        "microcv('event', 'early', {plan: 'pro', bad: {x: 1}})"
    )
    await tab.open("product.html")
    await tab.page.click("#ask")
    events = await tab.wait_for("custom", 2)
    assert [(e["n"], e.get("p")) for e in events] == [
        ("early", {"plan": "pro"}),
        ("question_opened", {"sku": "MUG-1"}),
    ]


async def test_running_the_tag_twice_registers_once(tab: Tab) -> None:
    await tab.open("product.html")
    await tab.page.add_script_tag(content=render_script(SITE, COLLECTOR))
    await tab.page.click("button[data-mcv]")
    await tab.wait_for("click")
    await tab.settle()
    assert len(tab.beacons.events("pageview")) == 1
    assert len(tab.beacons.events("click")) == 1


async def test_tag_never_throws_into_the_page(tab: Tab) -> None:
    errors: list[str] = []
    tab.page.on("pageerror", lambda exc: errors.append(str(exc)))
    await tab.open("product.html")
    await tab.page.evaluate(
        "microcv('event'); microcv('nonsense', 1, 2); microcv('event', 'x', null)"
    )
    await tab.page.click("button[data-mcv]")
    await tab.wait_for("click")
    assert errors == []
