"""Fixtures for the tag in real Chromium: fixture pages per feature, served by a small server
that is also the stand-in collector (it keeps every beacon, including those sent as a page goes
away, which Playwright's router does not see).

POST /v1/collect answers 204; /stall/v1/collect answers after 10 s; /fail/v1/collect answers 503.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from collector.links import classify
from collector.schema import parse_event
from snippet.generator import render_inline
from snippet.sites import Site

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class _Handler(SimpleHTTPRequestHandler):
    received: list[dict[str, Any]]
    timeout = 5

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path.startswith("/stall/"):
            time.sleep(10)
        status = 503 if self.path.startswith("/fail/") else 204
        if status == 204:
            self.received.append({"path": self.path, **json.loads(body)})
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Pages:
    """Writes fixture pages carrying the tag and reads back the beacons their sites sent."""

    root: Path
    base: str
    received: list[dict[str, Any]]
    # Site id -> the tag options its page was written with.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def write(
        self,
        name: str,
        body: str,
        options: dict[str, Any] | None = None,
        *,
        site: str = "",
        head: str = "",
        collector: str = "",
    ) -> str:
        """A page with the inline tag for `site` (a fresh one by default); returns the site id."""
        site = site or f"t-{uuid.uuid4().hex[:10]}"
        tag_options = {"allow_webdriver": True, **(options or {})}
        self.options[site] = tag_options
        tag = render_inline(
            Site(id=site, domains=("127.0.0.1",), tag=tag_options), collector or self.base
        )
        html = (
            f"<!doctype html><html><head><meta charset='utf-8'>{head}{tag}</head>"
            f"<body>{body}</body></html>"
        )
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        return site

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def bodies(self, site: str) -> list[dict[str, Any]]:
        return [b for b in list(self.received) if b.get("s") == site]

    def events(self, site: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for b in self.bodies(site) for e in b["e"] if kind is None or e["k"] == kind]

    def counted(self, site: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The events as the collector counts them: what the tag sent, through the collector's
        own link rules (collector/links.py, which make downloads and outbound events)."""
        return counted(self.events(site), self.options.get(site, {}), kind)


def counted(
    events: list[dict[str, Any]], options: dict[str, Any], kind: str | None = None
) -> list[dict[str, Any]]:
    site = Site(id="s", domains=("127.0.0.1",), tag=options)
    out = []
    for e in events:
        parsed = parse_event(e)
        event = classify(parsed, site)
        if event is None or kind not in (None, event.kind):
            continue
        if event != parsed:
            e = {k: v for k, v in e.items() if k not in ("n", "p")}
            e |= {"k": event.kind} | ({"n": event.name} if event.name else {})
            e |= {"p": event.props} if event.props else {}
        out.append(e)
    return out


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    root = tmp_path_factory.mktemp("pages")
    received: list[dict[str, Any]] = []
    handler_class = type("Handler", (_Handler,), {"received": received})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler_class, directory=str(root))
    )
    # A stalled request must not hold the fixture's teardown for its 10 s.
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Pages(
            root=root, base=f"http://127.0.0.1:{server.server_address[1]}", received=received
        )
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Visit:
    """One browser context on the fixture pages, and the page errors it saw."""

    context: BrowserContext
    page: Page
    pages: Pages
    errors: list[str] = field(default_factory=list)

    async def wait_until(self, done: Callable[[], bool], timeout_ms: int = 5000) -> None:
        for _ in range(timeout_ms // 50):
            if done():
                return
            await self.page.wait_for_timeout(50)
        raise AssertionError(f"timed out; beacons so far: {self.pages.received[-5:]}")

    async def wait_for(
        self, site: str, kind: str, count: int = 1, timeout_ms: int = 5000
    ) -> list[dict[str, Any]]:
        await self.wait_until(lambda: len(self.pages.events(site, kind)) >= count, timeout_ms)
        return self.pages.events(site, kind)

    async def hide(self) -> None:
        """Make the page look hidden (headless Chromium never hides one) and say so."""
        await self.page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState', {get: () => 'hidden',
                    configurable: true});
                Object.defineProperty(document, 'hidden', {get: () => true, configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )


@pytest.fixture
async def visit(pages: Pages, chromium: Browser) -> AsyncIterator[Visit]:
    context = await chromium.new_context(viewport={"width": 1000, "height": 600})
    page = await context.new_page()
    v = Visit(context=context, page=page, pages=pages)
    page.on("pageerror", lambda exc: v.errors.append(str(exc)))
    try:
        yield v
    finally:
        await context.close()
