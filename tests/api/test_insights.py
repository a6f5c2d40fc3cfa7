"""Micro-conversions, funnels, experiments, breakdowns, heatmap and leads, on real data."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from collector.records import Record
from consumers.api.stats import compare
from tests.api.conftest import AUTH, Fill, event

MIN = 60_000


def shop_visit(site: str, visitor: str, steps: int, *, ago_min: int = 5) -> list[Record]:
    """A visitor going `steps` steps down the shop funnel, a minute apart, in order."""
    kinds = [
        ("pageview", "", "http://localhost/product.html"),
        ("click", "add_to_cart", "http://localhost/product.html"),
        ("custom", "purchase", "http://localhost/checkout.html"),
    ]
    return [
        event(site, kind, name, ago_ms=(ago_min - i) * MIN, visitor=visitor, url=url)
        for i, (kind, name, url) in enumerate(kinds[:steps])
    ]


async def test_counters_carry_unique_visitors_per_kind_and_conversion(
    api: httpx.AsyncClient, fill: Fill, site_id: str
) -> None:
    records = [r for i in range(6) for r in shop_visit(site_id, f"v{i}", 2)]
    records.append(event(site_id, "click", "add_to_cart", visitor="v0", ago_ms=MIN))
    await fill(records)
    body = (await api.get(f"/v1/sites/{site_id}/counters?window=1h", headers=AUTH)).json()
    assert body["counters"]["click:add_to_cart"] == 7
    assert body["visitors"] == 6
    assert body["kinds"]["click"] == {"count": 7, "visitors": 6}
    assert body["conversions"]["add_to_cart"] == {"count": 7, "visitors": 6}
    assert body["conversions"]["view_product"] == {"count": 6, "visitors": 6}
    assert body["conversions"]["purchase"] == {"count": 0, "visitors": 0}


async def test_funnel_steps_and_rates(api: httpx.AsyncClient, fill: Fill, site_id: str) -> None:
    # 10 view the product, 4 of them add to cart, 1 of those buys.
    records = []
    for i in range(10):
        records += shop_visit(site_id, f"f{i}", 3 if i == 0 else 2 if i < 4 else 1)
    await fill(records)
    body = (await api.get(f"/v1/sites/{site_id}/funnels?window=1h", headers=AUTH)).json()
    (shop,) = body["funnels"]
    assert shop["name"] == "shop"
    assert [s["visitors"] for s in shop["steps"]] == [10, 4, 1]
    assert [s["rate_from_previous"] for s in shop["steps"]] == [1.0, 0.4, 0.25]
    assert [s["drop_off"] for s in shop["steps"]] == [0, 6, 3]
    assert shop["overall_rate"] == 0.1
    one = await api.get(f"/v1/sites/{site_id}/funnels/shop?window=1h&format=csv", headers=AUTH)
    rows = list(csv.reader(io.StringIO(one.text)))
    assert rows[0][:4] == ["funnel", "position", "step", "visitors"]
    assert [r[3] for r in rows[1:]] == ["10", "4", "1"]
    missing = await api.get(f"/v1/sites/{site_id}/funnels/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_funnel"


async def test_experiment_rates_uplift_and_significance(
    api: httpx.AsyncClient, fill: Fill, site_id: str
) -> None:
    # control: 40 exposed, 8 add to cart; green: 40 exposed, 20 add to cart.
    records = []
    for arm, converting in (("control", 8), ("green", 20)):
        for i in range(40):
            visitor = f"{arm}-{i}"
            exposure = event(site_id, "variant", "cta", ago_ms=3 * MIN, visitor=visitor,
                             props={"variant": arm})  # fmt: skip
            records.append(exposure)
            if i < converting:
                records.append(event(site_id, "click", "add_to_cart", ago_ms=MIN, visitor=visitor))
    await fill(records)
    body = (await api.get(f"/v1/sites/{site_id}/experiments", headers=AUTH)).json()
    (cta,) = body["experiments"]
    control, green = cta["variants"]
    assert control["control"] and control["exposed"] == 40 and green["exposed"] == 40
    assert control["conversions"]["add_to_cart"]["converted"] == 8
    assert control["conversions"]["add_to_cart"]["p_value"] is None
    figures = green["conversions"]["add_to_cart"]
    expected = compare(8, 40, 20, 40)
    assert figures["converted"] == 20 and figures["rate"] == 0.5
    assert figures["uplift"] == pytest.approx(1.5)
    assert figures["p_value"] == pytest.approx(expected.p_value)
    assert figures["ci_low"] == pytest.approx(expected.ci_low)
    assert figures["significant"] is True
    bad = await api.get(f"/v1/sites/{site_id}/experiments?confidence=2", headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_confidence"


async def test_breakdowns_scroll_heatmap_and_leads(
    api: httpx.AsyncClient, fill: Fill, site_id: str
) -> None:
    article = "http://localhost/article.html?utm_source=news&utm_campaign=spring"
    records = [
        *(event(site_id, "pageview", url=article, visitor=f"r{i}", props={"vw": 390})
          for i in range(3)),
        event(site_id, "pageview", url="http://localhost/product.html", props={"vw": 1400}),
        event(site_id, "download", "whitepaper.pdf", visitor="lead1"),
        event(site_id, "scroll", "75", url=article, visitor="lead1"),
        event(site_id, "scroll", "25", url=article, visitor="r1"),
        event(site_id, "click", "add_to_cart", visitor="lead2",
              url="http://localhost/product.html", props={"x": 520, "y": 310}),
        event(site_id, "click", "add_to_cart", visitor="lead2",
              url="http://localhost/product.html", props={"x": 530, "y": 320}),
    ]  # fmt: skip
    await fill(records)
    base = f"/v1/sites/{site_id}"

    async def get(path: str) -> dict[str, object]:
        resp = await api.get(base + path, headers=AUTH)
        assert resp.status_code == 200, resp.text[:300]
        body: dict[str, object] = resp.json()
        return body

    pages = await get("/breakdowns/page?window=1h")
    assert pages["values"] == [
        {"value": "/article.html", "count": 3},
        {"value": "/product.html", "count": 1},
    ]
    devices = await get("/breakdowns/device?window=1h")
    assert devices["values"] == [{"value": "mobile", "count": 3}, {"value": "desktop", "count": 1}]
    utm = await get("/breakdowns/utm?window=1h&limit=1")
    assert len(utm["values"]) == 1  # type: ignore[arg-type]
    downloads = await get("/breakdowns/download?window=1h")
    assert downloads["values"] == [{"value": "whitepaper.pdf", "count": 1}]
    clicks = await get("/breakdowns/click?window=1h")
    assert clicks["values"] == [{"value": "add_to_cart", "count": 2}]

    scroll = await get("/scroll?window=1h")
    assert scroll["pages"] == [
        {"path": "/article.html",
         "depths": [{"depth": 25, "count": 1}, {"depth": 75, "count": 1}]},
    ]  # fmt: skip
    heat = await get("/heatmap?window=1h&path=/product.html")
    assert heat["total"] == 2 and heat["grid"] == 20
    cells = heat["cells"]
    assert cells[6][10] == 2  # type: ignore[index]

    leads = await get("/leads?window=24h")
    assert [(lead["visitor"], lead["score"]) for lead in leads["leads"]] == [  # type: ignore[attr-defined]
        ("lead1", 15),
        ("lead2", 6),
    ]
    recent = leads["leads"][0]["recent"]  # type: ignore[index]
    assert {r["conversion"] for r in recent} == {"whitepaper", "read_article"}

    for path, reason, status in (
        ("/breakdowns/colour", "unknown_breakdown", 404),
        ("/heatmap?window=1h", "missing_path", 400),
        ("/heatmap?path=product", "bad_path", 400),
        ("/leads?limit=0", "bad_limit", 400),
    ):
        resp = await api.get(base + path, headers=AUTH)
        assert (resp.status_code, resp.json()["error"]) == (status, reason)


async def test_site_lists_what_it_measures(api: httpx.AsyncClient, site_id: str) -> None:
    body = (await api.get(f"/v1/sites/{site_id}", headers=AUTH)).json()
    assert body["conversions"][:2] == ["view_product", "add_to_cart"]
    assert body["funnels"][0]["steps"] == ["view_product", "add_to_cart", "purchase"]
    assert body["experiments"][0]["variants"] == ["control", "green"]
    assert (await api.get(f"/v1/sites/{site_id}")).status_code == 401
