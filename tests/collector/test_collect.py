"""The beacon endpoint of a real running collector, against the real Kafka: the HTTP protocol."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import urllib.parse

import orjson
import pytest

from collector.body import BodyError, _Inflater
from collector.schema import MAX_BODY_BYTES
from tests.collector.conftest import CHROME_UA, ORIGIN, Collector, beacon, event, read_records

import services


async def test_content_types_are_read_the_same(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    ids = []
    for content_type in ("text/plain", "application/json", "text/plain;charset=UTF-8", None):
        e = event()
        ids.append(e["i"])
        headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
        resp = await collector.post(beacon(site_id, [e]), headers=headers)
        assert resp.status_code == 202, (content_type, resp.text)
    # A form carrying the JSON in its `data` field, and curl -d's raw JSON labelled as a form.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    e1, e2 = event(), event()
    ids += [e1["i"], e2["i"]]
    encoded = urllib.parse.urlencode({"data": orjson.dumps(beacon(site_id, [e1])).decode()})
    assert (await collector.post(encoded.encode(), headers=form)).status_code == 202
    assert (await collector.post(beacon(site_id, [e2]), headers=form)).status_code == 202
    assert sorted(r.id for r in await read_records(kafka.bootstrap, topic)) == sorted(ids)


async def test_gzip_bodies_are_decoded(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    e = event()
    raw = gzip.compress(orjson.dumps(beacon(site_id, [e])))
    resp = await collector.post(raw, headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 202, resp.text
    assert [r.id for r in await read_records(kafka.bootstrap, topic)] == [e["i"]]


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"", {}, 400, "empty_body"),
        (b"   ", {}, 400, "empty_body"),
        (b"{nope", {}, 400, "bad_json"),
        (b'{"v":1,"s":"x","e":[NaN]}', {}, 400, "bad_json"),
        (b"x", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
        (b"x", {"Content-Type": "application/xml"}, 415, "unsupported_media_type"),
        (b"x", {"Content-Type": "text/plain; charset=latin-1"}, 415, "unsupported_charset"),
        (b"x" * (MAX_BODY_BYTES + 1), {}, 413, "body_too_large"),
        (gzip.compress(b'{"v":1}')[:-8], {"Content-Encoding": "gzip"}, 400, "truncated_gzip"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "bad_gzip"),
        (b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}, 400, "bad_form"),
    ],
)
async def test_bad_bodies_get_a_clear_4xx_and_a_metric(
    collector: Collector, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    resp = await collector.post(body, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == reason
    metrics = await collector.metrics()
    assert metrics[f'microcv_events_rejected_total{{reason="{reason}"}}'] == 1


async def test_a_compression_bomb_is_refused_with_flat_memory(
    collector: Collector, site_id: str
) -> None:
    # 64 MiB of zeros compress to ~64 KiB... keep under the wire limit: 40 MiB -> ~40 KiB.
    bomb = gzip.compress(b"0" * (40 << 20), 9)
    assert len(bomb) < MAX_BODY_BYTES
    resp = await collector.post(bomb, headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 413
    assert resp.json()["error"] == "body_too_large"
    # The decoder stops as soon as the output passes the limit: it never holds the 40 MiB.
    inflater = _Inflater(MAX_BODY_BYTES)
    with pytest.raises(BodyError):
        for start in range(0, len(bomb), 4096):
            inflater.feed(bomb[start : start + 4096])
    assert len(inflater.out) <= MAX_BODY_BYTES + 16 * 1024


async def _raw(
    collector: Collector, head: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = collector.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/collect HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Origin: " + ORIGIN.encode() + b"\r\n" + head + b"\r\n"
    )
    await writer.drain()
    return reader, writer


async def test_size_is_enforced_while_the_body_streams_in(collector: Collector) -> None:
    # A declared length over the limit is refused at once, before any of the body.
    reader, writer = await _raw(collector, b"Content-Length: 1000000000\r\n")
    assert (await asyncio.wait_for(reader.read(200), 10)).startswith(b"HTTP/1.1 413")
    writer.close()
    # A chunked body is counted as it arrives: the 413 comes while the client is still sending.
    reader, writer = await _raw(collector, b"Transfer-Encoding: chunked\r\n")
    answer = b""
    sent = 0
    while not answer and sent < 1000:  # 16 MB if it were all read
        writer.write(b"4000\r\n" + b"x" * 16384 + b"\r\n")
        await writer.drain()
        sent += 1
        with contextlib.suppress(TimeoutError):
            answer = await asyncio.wait_for(reader.read(200), 0.02)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert sent < 100


async def test_a_stalled_body_times_out(start_collector: object) -> None:
    collector = await start_collector(body_timeout_s=0.5)  # type: ignore[operator]
    reader, writer = await _raw(collector, b"Content-Length: 100\r\n")
    writer.write(b'{"v":')
    head = await asyncio.wait_for(reader.read(200), 10)
    writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head


async def test_a_batch_with_bad_items_keeps_the_good_ones(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    good = event()
    resp = await collector.post(beacon(site_id, [event(k="bogus"), good, "x"]))
    assert resp.status_code == 202
    assert resp.json() == {"accepted": 1, "rejected": [[0, "unknown_kind"], [2, "bad_event"]]}
    # ... and a batch of bad items only is refused as a whole, each reason still reported.
    resp = await collector.post(beacon(site_id, [event(k="bogus"), event(ts="soon")]))
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "no_valid_event",
        "rejected": [[0, "unknown_kind"], [1, "bad_ts"]],
    }
    assert [r.id for r in await read_records(kafka.bootstrap, topic)] == [good["i"]]
    metrics = await collector.metrics()
    assert metrics['microcv_events_rejected_total{reason="unknown_kind"}'] == 2


async def test_old_events_are_dropped_and_future_ones_clamped(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    sent = 1_000_000_000_000  # the client's clock is years off: only the gaps count
    old = event(ts=sent - 25 * 3600 * 1000)
    future = event(ts=sent + 3_600_000)
    now = event(ts=sent - 1000)
    resp = await collector.post(beacon(site_id, [old, future, now], t=sent))
    assert resp.json() == {"accepted": 2, "rejected": [[0, "too_old"]]}
    records = {r.id: r for r in await read_records(kafka.bootstrap, topic)}
    assert records[future["i"]].ts == records[future["i"]].received
    assert records[now["i"]].received - records[now["i"]].ts == 1000
    assert records[now["i"]].client_ts == sent - 1000


async def test_emoji_and_non_ascii_reach_kafka_byte_for_byte(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    name = "ajouter_🛒_カート_ñ"
    url = "http://localhost/produit/café-☕?ü=✓"
    e = event(n=name, u=url, p={"titre": "Tasse « Ça » 😀"})
    assert (await collector.post(beacon(site_id, [e]))).status_code == 202
    (raw,) = [v for v in await _values(kafka, topic)]
    assert name.encode() in raw and url.encode() in raw and "😀".encode() in raw
    (record,) = await read_records(kafka.bootstrap, topic)
    assert (record.name, record.url, record.props) == (name, url, e["p"])


async def _values(kafka: services.KafkaServer, topic: str) -> list[bytes]:
    from tests.collector.conftest import read_topic

    return await read_topic(kafka.bootstrap, topic)


async def test_health_readiness_and_options_never_405(collector: Collector) -> None:
    assert (await collector.client.get("/healthz")).status_code == 200
    ready = await collector.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await collector.client.options(path)).status_code == 204


async def test_unknown_paths_and_methods_are_refused_with_a_reason_and_a_metric(
    collector: Collector,
) -> None:
    missing = await collector.client.get("/v1/nope")
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_path")
    wrong = await collector.client.get("/v1/collect")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert "POST" in wrong.headers["allow"]
    # A trailing slash is another path, not a redirect a beacon would not follow.
    slash = await collector.client.post("/v1/collect/", content=b"{}")
    assert (slash.status_code, slash.json()["error"]) == (404, "unknown_path")
    metrics = await collector.metrics()
    assert metrics['microcv_events_rejected_total{reason="unknown_path"}'] == 2
    assert metrics['microcv_events_rejected_total{reason="method_not_allowed"}'] == 1


async def test_a_link_event_the_site_counts_as_nothing_is_counted_as_ignored(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    # A download link leaves the page as it was by design: its dead click is no signal.
    dead = event(k="dead_click", p={"href": "http://localhost/files/guide.pdf", "el": "a"})
    del dead["n"]  # an untagged click: the tag sends no name
    resp = await collector.post(beacon(site_id, [dead]))
    assert resp.status_code == 202
    assert resp.json() == {"accepted": 0, "rejected": []}
    assert await read_records(kafka.bootstrap, topic) == []
    metrics = await collector.metrics()
    assert metrics["microcv_events_ignored_total"] == 1
    assert metrics["microcv_events_accepted_total"] == 0


async def test_a_client_id_is_the_visitor_whatever_the_browser(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    # A tag with persist_visitor sends its id as "cid": one visitor across user agents (and
    # days: tests/collector/test_trust.py); without it, the daily hash of address and agent.
    cid = "9876543210" * 4
    agents = (CHROME_UA, CHROME_UA.replace("Chrome/131", "Chrome/130"))
    kept = [event() for _ in agents]
    daily = [event() for _ in agents]
    for ua, with_id, without in zip(agents, kept, daily, strict=True):
        for body in (beacon(site_id, [with_id], cid=cid), beacon(site_id, [without])):
            resp = await collector.post(body, headers={"User-Agent": ua})
            assert resp.status_code == 202, resp.text
    bad = await collector.post(beacon(site_id, [event()], cid="ana@example.com"))
    assert (bad.status_code, bad.json()["error"]) == (400, "bad_cid")
    visitor = {r.id: r.visitor for r in await read_records(kafka.bootstrap, topic)}
    assert len(visitor) == 4
    assert visitor[kept[0]["i"]] == visitor[kept[1]["i"]]
    assert visitor[daily[0]["i"]] != visitor[daily[1]["i"]]
    assert visitor[kept[0]["i"]] not in {visitor[daily[0]["i"]], visitor[daily[1]["i"]], cid}
    assert (await collector.metrics())['microcv_events_rejected_total{reason="bad_cid"}'] == 1


async def test_a_time_past_javascripts_safe_integers_is_a_4xx_not_a_5xx(
    collector: Collector, site_id: str
) -> None:
    # Found by the hostile-client review: 1e300 used to reach the record encoder and fail there.
    resp = await collector.post(beacon(site_id, [event(ts=1e300)]))
    assert resp.status_code == 400
    assert resp.json()["rejected"] == [[0, "bad_ts"]]
    resp = await collector.post(beacon(site_id, [event()], t=1e300))
    assert resp.status_code == 400 and resp.json()["error"] == "bad_t"
    metrics = await collector.metrics()
    assert metrics['microcv_events_rejected_total{reason="bad_t"}'] == 1


async def test_a_pageview_carries_the_device_class_of_its_user_agent(
    collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    view, click = event(k="pageview", n=None), event()
    assert (await collector.post(beacon(site_id, [view, click]))).status_code == 202
    records = {r.id: r for r in await read_records(kafka.bootstrap, topic)}
    assert records[view["i"]].props == {"device": "desktop"}  # the test client's desktop Chrome
    assert records[click["i"]].props == {}
