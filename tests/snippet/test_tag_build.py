"""The shipped tracker: a fresh build matches snippet/dist, sizes stay in budget, and the
generator's outputs (inline, loader + SRI, GTM) are safe and hold only the enabled features."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from snippet.bundle import DEFAULT_MODULES, MODULES, module
from snippet.generator import (
    render_gtm,
    render_inline,
    render_loader,
    render_script,
    subresource_integrity,
    tag_features,
)
from snippet.sites import Site, SitesConfigError
from snippet.size import BUDGET, sizes

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "snippet" / "dist"
COLLECTOR = "https://collect.example.com"
# What the variants measure today (make tag-size); a change that grows them fails here.
CEILING = {"core": 1206, "default": 1660, "all": 2435}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (build time only)")
def test_shipped_output_matches_a_fresh_build(tmp_path: Path) -> None:
    if not (REPO / "node_modules" / "terser").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=REPO, check=True)
    out = tmp_path / "dist"
    subprocess.run(["node", "snippet/build.mjs", str(out)], cwd=REPO, check=True)
    names = sorted(p.name for p in DIST.iterdir())
    assert names == sorted(p.name for p in out.iterdir())
    _, mismatch, errors = filecmp.cmpfiles(DIST, out, names, shallow=False)
    assert (mismatch, errors) == ([], []), "snippet/dist is stale: run make tag"


def test_sizes_stay_under_their_ceilings() -> None:
    measured = sizes()
    for name, ceiling in CEILING.items():
        assert measured[name] <= ceiling, (name, measured[name])
    assert measured["core"] < measured["default"] < measured["all"]


def test_every_feature_fits_its_budget() -> None:
    assert sizes()["all"] <= BUDGET["all"]


@pytest.mark.xfail(strict=True, reason="the default set is over its budget today; see docs/tag.md")
def test_size_budget() -> None:
    assert sizes()["default"] <= BUDGET["default"]


def _site(**tag: object) -> Site:
    return Site(id="shop", domains=("shop.example",), tag=tag)


def test_only_enabled_features_are_shipped() -> None:
    assert tag_features(_site()) == DEFAULT_MODULES
    script = render_script(_site(scroll=False, outbound=False, forms=True), COLLECTOR)
    for name in MODULES:
        shipped = name in (DEFAULT_MODULES - {"scroll"}) | {"forms"}
        assert (module(name) in script) == shipped, name
    # The clicks module sends the link clicks the collector makes downloads and outbound events
    # of: it ships while any of the three is on. The download rule is the collector's alone.
    assert module("clicks") in render_script(_site(clicks=False, outbound=False), COLLECTOR)
    no_links = _site(clicks=False, downloads=False, outbound=False)
    assert module("clicks") not in render_script(no_links, COLLECTOR)
    assert "epub" not in render_script(_site(download_extensions=["epub"]), COLLECTOR)


@pytest.mark.parametrize(
    ("tag", "name", "flag"),
    [
        ({"click_rules": {".cta": "cta_click"}}, "clicks", "rules"),
        ({"scroll_root": "#feed"}, "scroll", "root"),
        ({"scroll_max": False}, "scroll", "nomax"),
        ({"hash": True}, "spa", "hash"),
    ],
)
def test_code_for_an_option_ships_only_to_sites_that_set_it(
    tag: dict[str, object], name: str, flag: str
) -> None:
    assert module(name) in render_script(_site(), COLLECTOR)
    script = render_script(_site(**tag), COLLECTOR)
    assert module(name, frozenset({flag})) in script
    assert module(name) not in script
    # The automation test is the core's: gone only where the site allows automated browsers.
    assert "webdriver" in render_script(_site(), COLLECTOR)
    assert "webdriver" not in render_script(_site(allow_webdriver=True), COLLECTOR)


def test_a_selector_cannot_break_out_of_the_script_element() -> None:
    site = _site(click_rules={"</script><script>alert(1)</script>": "x", "a[title='{{x}}']": "y"})
    tag = render_inline(site, COLLECTOR)
    assert tag.lower().count("</script") == 1 and tag.lower().count("<script") == 1
    assert "{{" not in tag and "<!--" not in tag
    assert "\\u003c/script>" in tag


def test_loader_pins_the_served_script_and_gtm_has_no_variables() -> None:
    site = _site(forms=True)
    loader = render_loader(site, COLLECTOR)
    assert f'src="{COLLECTOR}/v1/tag/shop.js"' in loader
    assert f'integrity="{subresource_integrity(render_script(site, None))}"' in loader
    assert 'crossorigin="anonymous"' in loader
    gtm = render_gtm(site, COLLECTOR)
    assert loader in gtm and "{{" not in gtm
    # The served script posts where it was loaded from: no collector URL is baked in.
    assert "collect.example.com" not in render_script(site, None)
    assert "currentScript" not in render_script(site, COLLECTOR)


def test_only_a_site_that_honours_do_not_track_ships_its_test() -> None:
    assert "doNotTrack" not in render_script(_site(), COLLECTOR)
    assert 'navigator.doNotTrack=="1"' in render_script(_site(dnt=True), COLLECTOR)


def test_nonce_goes_on_the_inline_element() -> None:
    assert render_inline(_site(), COLLECTOR, nonce="abc123").startswith('<script nonce="abc123">')
    with pytest.raises(SitesConfigError):
        render_inline(_site(), COLLECTOR, nonce='x" onload="alert(1)')


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ({"scrol": True}, "unknown option"),
        ({"batch_size": 500}, "batch_size: expected"),
        ({"scroll_milestones": [50, 25]}, "scroll_milestones: expected"),
        ({"download_extensions": ["P.DF"]}, "download_extensions: expected"),
        ({"click_rules": {"a": ""}}, "click_rules: expected"),
        ({"rage_clicks": True, "clicks": False}, "needs clicks"),
    ],
)
def test_bad_tag_options_are_refused_by_name(tag: dict[str, object], message: str) -> None:
    with pytest.raises(SitesConfigError, match=message):
        render_script(_site(**tag), COLLECTOR)
