"""Arbitrary bodies, headers and encodings against a running collector: never a 5xx, no crash."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.collector.conftest import CHROME_UA, ORIGIN, Collector, StartCollector

import services

PATHS = ["/v1/collect", "/v1/batch", "/v1/track", "/v1/page", "/v1/identify"]
WRITE_KEY = "wk-fuzz-0123456789abcdef"

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson can write
scalars = st.none() | st.booleans() | ints | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)


def events(site: str) -> st.SearchStrategy[dict[str, Any]]:
    event = st.fixed_dictionaries(
        {},
        optional={
            "i": st.text(max_size=70) | json_values,
            "k": st.sampled_from(["click", "pageview", "custom", "nope"]) | json_values,
            "n": st.text(max_size=120) | json_values,
            "ts": ints | st.floats() | json_values,
            "u": st.text(max_size=50) | json_values,
            "p": st.dictionaries(st.text(max_size=70), scalars, max_size=25) | json_values,
        },
    )
    return st.fixed_dictionaries(
        {"v": st.sampled_from([1, 1, 2, "1"]), "s": st.sampled_from([site, "other", ""])},
        optional={
            "t": ints | json_values,
            "e": st.lists(event, max_size=8) | json_values,
            "batch": st.lists(json_values, max_size=5),
            "sentAt": st.text(max_size=40),
        },
    )


def bodies(site: str) -> st.SearchStrategy[bytes]:
    as_json = (events(site) | json_values).map(
        lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)
    )
    return st.one_of(
        st.binary(max_size=2000),
        as_json,
        st.text(max_size=500).map(str.encode),
        as_json.map(lambda b: b.replace(b"1", b"NaN", 1)),
        as_json.map(lambda b: b.replace(b'"', b'"\\ud800', 1)),
        st.integers(min_value=1, max_value=60).map(lambda d: b"[" * d * 3 + b"]" * d * 3),
    )


headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["text/plain", "application/json", "application/x-www-form-urlencoded",
             "text/plain; charset=latin-1", "multipart/form-data", ""]
        ) | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30),
        "Origin": st.sampled_from([ORIGIN, "null", "https://evil.example", "::::", "http://[x"]),
        "Referer": st.sampled_from(["http://localhost/a", "http://[::1", "garbage"]),
        "User-Agent": st.sampled_from([CHROME_UA, "", "HeadlessChrome", "\x7f"]),
        "X-Forwarded-For": st.text(alphabet="0123456789.,:abcdef[]", max_size=40),
        "Authorization": st.sampled_from(
            ["Basic !!!", "Basic " + "d2stZnV6ei0wMTIzNDU2Nzg5YWJjZGVmOg==", "Bearer x", "Basic"]
        ),
    },
)  # fmt: skip


def encode(body: bytes, how: str) -> tuple[bytes, dict[str, str]]:
    if how == "gzip":
        return gzip.compress(body), {"Content-Encoding": "gzip"}
    if how == "truncated":
        return gzip.compress(body)[:-4], {"Content-Encoding": "gzip"}
    if how == "garbage":
        return body, {"Content-Encoding": "gzip"}
    if how == "other":
        return body, {"Content-Encoding": "deflate, br"}
    return body, {}


def fuzz(url: str, site: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:

        @settings(
            max_examples=400,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            path=st.sampled_from(PATHS),
            body=bodies(site),
            head=headers,
            how=st.sampled_from(["plain", "plain", "gzip", "truncated", "garbage", "other"]),
        )
        def one(path: str, body: bytes, head: dict[str, str], how: str) -> None:
            content, extra = encode(body, how)
            resp = client.post(path, content=content, headers={**head, **extra})
            assert resp.status_code < 500, (resp.status_code, resp.text)
            assert resp.status_code in (200, 202, 400, 401, 403, 408, 413, 415, 429), resp.text

        one()
        assert client.get("/healthz").status_code == 200


async def test_nothing_thrown_at_the_collector_gets_a_5xx(
    start_collector: StartCollector, site_id: str, kafka: services.KafkaServer
) -> None:
    from snippet.sites import parse_sites

    sites = parse_sites({"sites": {site_id: {"domains": ["localhost"], "write_keys": [WRITE_KEY]}}})
    collector: Collector = await start_collector(sites=sites)
    await asyncio.to_thread(fuzz, collector.url, site_id)
    m = await collector.metrics()
    assert m["microcv_events_accepted_total"] == (
        m["microcv_events_produced_total"] + m["microcv_events_spooled_total"]
    )
