"""The demo shop carries exactly the tag `python -m snippet` renders today, pasted as is."""

from __future__ import annotations

from pathlib import Path

import pytest

from snippet.__main__ import DEFAULT_COLLECTOR
from snippet.generator import render_inline
from snippet.paste import paste_tag
from snippet.sites import load_sites

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "deploy" / "demo"


@pytest.mark.parametrize("page", sorted(p.name for p in DEMO.glob("*.html")))
def test_demo_page_has_the_freshly_rendered_tag(page: str) -> None:
    site = load_sites(REPO / "deploy" / "sites.toml").get("demo")
    assert site is not None
    html = (DEMO / page).read_text()
    tag = render_inline(site, DEFAULT_COLLECTOR)
    # Re-pasting a fresh render changes nothing: the pasted tag is not stale.
    assert paste_tag(html, tag) == html, "run: make demo-tag"
