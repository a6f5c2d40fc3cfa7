"""Sites, origins, CORS, the client address, rate limits, bots and visitor ids."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis
from starlette.datastructures import Headers

from collector.bots import BotDetector
from collector.clientip import ClientAddresses
from collector.ratelimit import RateLimiter
from collector.runtime import rate_key
from collector.visitor import (
    DAY_S,
    GRACE_S,
    PERSISTENT_KEY,
    DailySalts,
    VisitorIds,
    salt_key,
)
from tests.collector.conftest import (
    CHROME_UA,
    ORIGIN,
    Collector,
    StartCollector,
    beacon,
    event,
    read_records,
)

import services

_FOREIGN = "origin_not_allowed"


async def test_unknown_sites_and_foreign_origins_are_refused(
    collector: Collector, site_id: str
) -> None:
    cases = [
        (beacon("t-not-configured", [event()]), {}, 400, "unknown_site"),
        (beacon(site_id, [event()]), {"Origin": "https://evil.example"}, 403, "origin_not_allowed"),
        (beacon(site_id, [event()]), {"Origin": "http://notlocalhost"}, 403, "origin_not_allowed"),
        (beacon(site_id, [event()]), {"Origin": ""}, 403, "origin_missing"),
        # What no browser sends as an Origin: user info, a port out of range, another scheme.
        (beacon(site_id, [event()]), {"Origin": "http://evil.net@localhost"}, 403, _FOREIGN),
        (beacon(site_id, [event()]), {"Origin": "http://localhost:99999"}, 403, _FOREIGN),
        (beacon(site_id, [event()]), {"Origin": "ftp://localhost"}, 403, _FOREIGN),
    ]
    for body, headers, status, reason in cases:
        resp = await collector.post(body, headers=headers)
        assert (resp.status_code, resp.json()["error"]) == (status, reason)
    # A Referer of an allowed page is enough when there is no Origin.
    ok = await collector.post(
        beacon(site_id, [event()]), headers={"Origin": "", "Referer": "http://localhost/a"}
    )
    assert ok.status_code == 202
    m = await collector.metrics()
    assert m['microcv_events_rejected_total{reason="origin_not_allowed"}'] == 5


async def test_cors_preflight_and_answers(collector: Collector, site_id: str) -> None:
    pre = await collector.client.options(
        "/v1/collect",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, traceparent, x-secret",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert pre.headers["access-control-allow-headers"] == "content-type, traceparent"
    assert int(pre.headers["access-control-max-age"]) > 0
    assert "Origin" in pre.headers["vary"]
    assert "access-control-allow-credentials" not in pre.headers
    foreign = await collector.client.options("/v1/collect", headers={"Origin": "https://evil.ex"})
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    assert (await collector.client.options("/v1/collect")).status_code == 403  # never 405
    resp = await collector.post(beacon(site_id, [event()]))
    assert resp.headers["access-control-allow-origin"] == ORIGIN != "*"
    assert resp.headers["vary"] == "Origin"


async def test_refusals_before_the_site_is_known_are_readable_by_a_site_page(
    start_collector: StartCollector, site_id: str
) -> None:
    # The tag retries what it cannot read (a CORS failure looks like a network error), so a
    # refusal a page of a configured site would get again must be readable there.
    collector = await start_collector(client_rate=0.001, client_burst=3)
    too_large = b"{" + b" " * (64 * 1024) + b"}"
    cases = [
        (b'{"v": 1, "s": ', 400, "bad_json"),
        (too_large, 413, "body_too_large"),
        (beacon("t-not-configured", [event()]), 400, "unknown_site"),
        (beacon(site_id, [event()]), 429, "client_rate_limited"),
    ]
    for body, status, reason in cases:
        resp = await collector.post(body)
        assert (resp.status_code, resp.json()["error"]) == (status, reason)
        assert resp.headers["access-control-allow-origin"] == ORIGIN
        assert resp.headers["vary"] == "Origin"
    foreign = await collector.post(b"{", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 429 and "access-control-allow-origin" not in foreign.headers
    assert foreign.headers["vary"] == "Origin"


async def test_options_never_answers_405(collector: Collector, site_id: str) -> None:
    for path in (f"/v1/tag/{site_id}.js", "/healthz", "/readyz", "/metrics"):
        resp = await collector.client.options(path, headers={"Origin": ORIGIN})
        assert resp.status_code == 204, path
        assert "GET" in resp.headers["allow"]


def test_forwarded_headers_are_believed_only_from_trusted_proxies() -> None:
    direct = ClientAddresses([])
    spoof = Headers({"x-forwarded-for": "1.2.3.4"})
    assert direct.resolve("203.0.113.9", spoof) == "203.0.113.9"
    proxies = ClientAddresses(["10.0.0.0/8", "fd00::/8"])
    assert proxies.resolve("203.0.113.9", spoof) == "203.0.113.9"  # peer is not a proxy
    # The client wrote a fake hop first; the proxies appended what they saw: rightmost untrusted.
    chain = Headers({"x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.1.1.1"})
    assert proxies.resolve("10.0.0.2", chain) == "198.51.100.7"
    assert proxies.resolve("10.0.0.2", Headers({"x-forwarded-for": "10.3.3.3"})) == "10.3.3.3"
    assert proxies.resolve("10.0.0.2", Headers({"x-forwarded-for": "junk, 10.9.9.9"})) == "10.9.9.9"
    assert proxies.resolve("10.0.0.2", Headers({})) == "10.0.0.2"
    assert proxies.resolve("::ffff:10.0.0.2", chain) == "198.51.100.7"
    assert proxies.resolve("fd00::1", Headers({"x-forwarded-for": "[2001:db8::1]:443"})) == (
        "2001:db8::1"
    )
    with pytest.raises(ValueError, match="not an IP network"):
        ClientAddresses(["10.0.0.0/33"])


async def test_a_direct_x_forwarded_for_changes_nothing(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    for fake in ("1.1.1.1", "2.2.2.2"):
        resp = await collector.post(beacon(site_id, [event()]), headers={"X-Forwarded-For": fake})
        assert resp.status_code == 202
    first, second = await read_records(kafka.bootstrap, topic)
    assert first.visitor == second.visitor  # same peer, same user agent: one visitor


def test_token_buckets() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=0.0) == pytest.approx(0.5)
    assert limiter.take("b", now=0.0) == 0.0  # keys are independent
    assert limiter.take("a", now=0.5) == 0.0  # one token back after 1/rate
    assert RateLimiter(rate=0, burst=1).take("a", 1000) == 0.0  # disabled
    # More than a bucket holds passes on a full bucket and empties it, rather than never.
    sites = RateLimiter(rate=10.0, burst=5)
    assert sites.take("s", 50, now=0.0) == 0.0
    assert sites.take("s", 50, now=0.1) == pytest.approx(0.4)
    assert sites.take("s", 50, now=0.5) == 0.0
    small = RateLimiter(rate=1.0, burst=1, max_keys=10)
    for i in range(100):
        small.take(str(i), now=float(i))
    assert len(small) <= 10


async def test_rate_limits_answer_429_with_retry_after(
    start_collector: StartCollector, site_id: str
) -> None:
    collector = await start_collector(client_rate=1.0, client_burst=2)
    statuses = [(await collector.post(beacon(site_id, [event()]))).status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    resp = await collector.post(beacon(site_id, [event()]))
    assert resp.json()["error"] == "client_rate_limited"
    assert int(resp.headers["retry-after"]) >= 1
    by_site = await start_collector(site_rate=1.0, site_burst=10)
    assert (await by_site.post(beacon(site_id, [event() for _ in range(10)]))).status_code == 202
    resp = await by_site.post(beacon(site_id, [event()]))
    assert (resp.status_code, resp.json()["error"]) == (429, "site_rate_limited")
    assert resp.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    ("user_agent", "bot"),
    [
        (CHROME_UA, False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", False),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "HeadlessChrome/131.0.0.0 Safari/537.36", True),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Prerender (+https://github.com/prerender/prerender)", True),
        ("Mozilla/5.0 (Macintosh) Chrome-Lighthouse", True),
        ("curl/8.5.0", True),
        ("", True),
        ("   ", True),
    ],
)  # fmt: skip
def test_bots_are_recognised(user_agent: str, bot: bool) -> None:
    assert BotDetector().is_bot(user_agent) is bot


async def test_bot_events_are_kept_marked_and_counted(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    headless = CHROME_UA.replace("Chrome/", "HeadlessChrome/")
    await collector.post(beacon(site_id, [event(), event()]), headers={"User-Agent": headless})
    await collector.post(beacon(site_id, [event()]))
    records = await read_records(kafka.bootstrap, topic)
    assert sorted(r.bot for r in records) == [False, True, True]
    assert (await collector.metrics())["microcv_events_bot_total"] == 2


async def test_collectors_share_the_daily_salt_and_old_ones_expire(
    redis: Redis, redis_server: services.RedisServer
) -> None:
    now = time.time()
    day = int(now // DAY_S)
    await redis.delete(salt_key(day))
    ids = []
    for _ in range(2):  # two collectors, each with its own connection and cache
        client = Redis.from_url(redis_server.url)
        salts = DailySalts(client, 2.0)
        await salts.refresh(now)
        ids.append(VisitorIds(salts).visitor_id("shop", "198.51.100.7", CHROME_UA, now))
        await client.aclose()
    assert ids[0] == ids[1]
    assert len(ids[0]) == 16 and "198.51.100.7" not in ids[0]
    # The salt is deleted by Redis an hour after its day ends, never kept longer.
    expires_at = await redis.expiretime(salt_key(day))
    assert expires_at == (day + 1) * DAY_S + GRACE_S
    # The next day brings a new salt, and the cache forgets yesterday's.
    salts = DailySalts(redis, 2.0)
    await salts.refresh(now)
    tomorrow = (day + 1) * DAY_S + 10
    await salts.refresh(tomorrow)
    assert VisitorIds(salts).visitor_id("shop", "198.51.100.7", CHROME_UA, tomorrow) != ids[0]
    assert day not in salts._salts
    await redis.delete(salt_key(day + 1))


async def test_a_client_id_keeps_its_visitor_across_days_and_collectors(redis: Redis) -> None:
    now = time.time()
    tomorrow = (int(now // DAY_S) + 1) * DAY_S + 10
    salts = DailySalts(redis, 2.0)
    await salts.refresh(now)
    ids = VisitorIds(salts, b"pepper")
    cid = "1234567890" * 4
    today = ids.client_visitor_id("shop", cid)
    daily = ids.visitor_id("shop", "198.51.100.7", CHROME_UA, now)
    await salts.refresh(tomorrow)
    # The daily id changes with the day's salt; the client's stays.
    assert ids.visitor_id("shop", "198.51.100.7", CHROME_UA, tomorrow) != daily
    assert ids.client_visitor_id("shop", cid) == today
    # Another collector (its own cache) gives the same visitor: the key is shared in Redis,
    # and never expires.
    other = DailySalts(redis, 2.0)
    await other.refresh(now)
    assert VisitorIds(other, b"pepper").client_visitor_id("shop", cid) == today
    assert await redis.ttl(PERSISTENT_KEY) == -1
    # A keyed hash per site, never the id itself.
    assert len(today) == 16 and cid not in today
    assert ids.client_visitor_id("blog", cid) != today
    assert VisitorIds(salts, b"other pepper").client_visitor_id("shop", cid) != today
    assert today not in (daily, ids.user_visitor_id("shop", cid, now))


async def test_without_redis_a_local_salt_keeps_events_flowing() -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{services.free_port()}/0", socket_connect_timeout=0.5)
    salts = DailySalts(dead, 1.0)
    await salts.refresh()
    visitor = VisitorIds(salts).visitor_id("shop", "1.2.3.4", "ua")
    assert len(visitor) == 16 and salts.fallbacks == 1
    # A client's own id too: a local persistent salt, made once.
    for _ in range(2):
        assert len(VisitorIds(salts).client_visitor_id("shop", "1234567890" * 4)) == 16
    assert salts.fallbacks == 2
    await dead.aclose()


def test_an_ipv6_client_is_rate_limited_by_its_64() -> None:
    assert (
        rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    )
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("203.0.113.7") == "203.0.113.7"
    assert rate_key("fe80::1%eth0") == "fe80::/64"
