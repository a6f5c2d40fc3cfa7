"""Counters and series over windows and ranges, CSV export, auth and errors, on real data."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from consumers.api import create_app
from consumers.api.export import Table, to_csv
from consumers.settings import Settings
from snippet.sites import Sites
from tests.api.conftest import AUTH, SITE_CONFIG, Fill, event, now_ms, serve

import services

MIN = 60_000


async def test_counters_over_windows_and_ranges_are_exact(
    api: httpx.AsyncClient, fill: Fill, site_id: str
) -> None:
    records = [
        *(event(site_id, "click", "add_to_cart") for _ in range(3)),
        event(site_id, "pageview"),
        event(site_id, "pageview", ago_ms=30 * MIN),  # inside 1h, outside 5m
        event(site_id, "download", "a.pdf", ago_ms=3 * 3600_000),  # inside 24h only
    ]
    await fill(records)
    url = f"/v1/sites/{site_id}/counters"

    five = (await api.get(url, params={"window": "5m"}, headers=AUTH)).json()
    assert five["counters"] == {"click": 3, "click:add_to_cart": 3, "pageview": 1}
    assert five["site"] == site_id and five["window"] == "5m"
    assert five["to"] - five["from"] == 5 * MIN

    hour = (await api.get(url, params={"window": "1h"}, headers=AUTH)).json()
    assert hour["counters"]["pageview"] == 2 and "download" not in hour["counters"]
    day = (await api.get(url, params={"window": "24h"}, headers=AUTH)).json()
    assert day["counters"]["download:a.pdf"] == 1
    # No window at all is 24h.
    assert (await api.get(url, headers=AUTH)).json()["counters"] == day["counters"]

    # A custom range around the half-hour-old pageview only.
    t = now_ms()
    params = {"from": str(t - 35 * MIN), "to": str(t - 25 * MIN)}
    ranged = (await api.get(url, params=params, headers=AUTH)).json()
    assert ranged["counters"] == {"pageview": 1}
    assert ranged["window"] is None


async def test_series_per_minute_and_hour_and_csv(
    api: httpx.AsyncClient, fill: Fill, site_id: str
) -> None:
    await fill(
        [
            event(site_id, "click", "add_to_cart", ago_ms=2 * MIN),
            event(site_id, "click", "add_to_cart", ago_ms=2 * MIN),
            event(site_id, "click", "add_to_cart"),
            event(site_id, "pageview", ago_ms=2 * MIN),
        ]
    )
    url = f"/v1/sites/{site_id}/series"
    params = {"window": "10m", "names": "click:add_to_cart,pageview", "resolution": "m"}
    body = (await api.get(url, params=params, headers=AUTH)).json()
    assert body["resolution"] == "m" and len(body["timestamps"]) == 10
    assert body["series"]["click:add_to_cart"][-1] == 1
    assert body["series"]["click:add_to_cart"][-3] == 2
    assert body["series"]["pageview"][-3] == 1
    assert sum(body["series"]["pageview"]) == 1
    assert body["timestamps"][-1] - body["timestamps"][0] == 9 * MIN

    hourly = (await api.get(url, params={**params, "resolution": "h"}, headers=AUTH)).json()
    assert sum(hourly["series"]["click:add_to_cart"]) == 3

    resp = await api.get(url, params={**params, "format": "csv"}, headers=AUTH)
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0] == ["timestamp", "click:add_to_cart", "pageview"]
    assert len(rows) == 11 and rows[-1][1] == "1"


async def test_counters_as_csv(api: httpx.AsyncClient, fill: Fill, site_id: str) -> None:
    await fill([event(site_id, "click", "buy"), event(site_id, "pageview")])
    resp = await api.get(
        f"/v1/sites/{site_id}/counters", params={"window": "5m", "format": "csv"}, headers=AUTH
    )
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows == [
        ["name", "count", "visitors"],
        ["click", "1", "1"],
        ["click:buy", "1", ""],
        ["pageview", "1", "1"],
        *([f"cv:{name}", "0", "0"] for name in SITE_CONFIG["conversions"]),  # type: ignore[attr-defined]
    ]


def test_a_name_from_page_markup_never_runs_as_a_spreadsheet_formula() -> None:
    table = Table(["name", "count"], [["=HYPERLINK(1)", 1], ["-2+3", 2], ["ok", 3]])
    assert to_csv(table) == "name,count\r\n'=HYPERLINK(1),1\r\n'-2+3,2\r\nok,3\r\n"


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "missing_token"),
        ({"Authorization": "Bearer wrong"}, 403, "bad_token"),
        ({"Authorization": "Bearer"}, 403, "bad_token"),
        ({"Authorization": "Basic cmVhZC10b2tlbg=="}, 401, "missing_token"),
    ],
)
async def test_no_data_without_the_sites_read_token(
    api: httpx.AsyncClient,
    fill: Fill,
    site_id: str,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    await fill([event(site_id, "pageview")])
    for path in ("counters", "series?names=pageview", "stream", "counters?format=csv"):
        resp = await api.get(f"/v1/sites/{site_id}/{path}", headers=headers)
        assert resp.status_code == status
        assert resp.json()["error"] == reason
        assert "pageview" not in resp.text
        # RFC 9110: a 401 names the scheme to use.
        assert (resp.headers.get("www-authenticate") == 'Bearer realm="microcv"') == (status == 401)


async def test_unknown_site_is_404(api: httpx.AsyncClient) -> None:
    resp = await api.get("/v1/sites/nope/counters", headers=AUTH)
    assert resp.status_code == 404 and resp.json()["error"] == "unknown_site"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("window=5x", "bad_window"),
        ("window=%EF%BC%95m", "bad_window"),  # a fullwidth digit is a digit to str.isdigit
        ("window=0m", "bad_window"),
        ("window=401d", "bad_window"),
        ("window=", "bad_window"),
        ("window=5m&from=1", "bad_range"),
        ("from=abc", "bad_from"),
        ("to=1", "bad_range"),
        ("from=1", "too_old"),
        (f"from={now_ms() - 402 * 86400_000}&to={now_ms() - 401 * 86400_000}", "too_old"),
        ("from=99999999999999", "bad_range"),
        ("format=xml", "bad_format"),
    ],
)
async def test_bad_parameters_are_400_with_a_reason_and_a_metric(
    api: httpx.AsyncClient, site_id: str, query: str, reason: str
) -> None:
    resp = await api.get(f"/v1/sites/{site_id}/counters?{query}", headers=AUTH)
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["error"] == reason
    metrics = (await api.get("/metrics")).text
    assert f'microcv_api_refused_total{{reason="{reason}"}}' in metrics


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("window=5m", "missing_names"),
        ("window=5m&names=" + ",".join(f"n{i}" for i in range(21)), "too_many_names"),
        ("window=5m&names=a&resolution=s", "bad_resolution"),
        ("window=30d&names=a&resolution=m", "bad_resolution"),
        ("window=3d&names=a&resolution=m", "bad_resolution"),
        ("window=24h&names=a&resolution=m", "too_many_points"),
        (f"window=5m&names={'x' * 121}", "long_name"),
    ],
)
async def test_bad_series_parameters_are_400(
    api: httpx.AsyncClient, site_id: str, query: str, reason: str
) -> None:
    resp = await api.get(f"/v1/sites/{site_id}/series?{query}", headers=AUTH)
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["error"] == reason


async def test_redis_down_is_503_and_back_is_200(
    settings: Settings, sites: Sites, site_id: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("redis-503")
    own = services.RedisServer(services.free_port(), root / "data", root / "redis.log")
    own.start()
    app = create_app(
        Settings(**{**settings.__dict__, "redis_url": own.url, "redis_timeout_s": 1.0}), sites
    )
    try:
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            path = f"/v1/sites/{site_id}/counters?window=5m"
            assert (await client.get(path, headers=AUTH)).status_code == 200
            own.stop()
            for p in (path, f"/v1/sites/{site_id}/series?window=5m&names=a"):
                resp = await client.get(p, headers=AUTH)
                assert resp.status_code == 503
                assert resp.json()["error"] == "store_unavailable"
                assert resp.headers["retry-after"] == "1"
            own.start()
            assert (await client.get(path, headers=AUTH)).status_code == 200
    finally:
        own.stop()
