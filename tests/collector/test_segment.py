"""Segment-compatible input, driven by the official segment-analytics-python client."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime

import pytest
from segment.analytics import Client

from collector.writekeys import parse_write_keys
from snippet.sites import Sites, SitesConfigError, parse_sites
from tests.collector.conftest import Collector, StartCollector, read_records

import services

WRITE_KEY = "wk-test-0123456789abcdef"


@pytest.fixture
def segment_sites(site_id: str) -> Sites:
    return parse_sites({"sites": {site_id: {"domains": ["localhost"], "write_keys": [WRITE_KEY]}}})


@pytest.fixture
async def segment_collector(start_collector: StartCollector, segment_sites: Sites) -> Collector:
    return await start_collector(sites=segment_sites)


def run_client(host: str, write_key: str, gzip: bool) -> list[str]:
    errors: list[str] = []
    client = Client(
        write_key=write_key,
        host=host,
        gzip=gzip,
        max_retries=1,
        upload_interval=0.05,
        on_error=lambda exc, batch: errors.append(str(exc)),
    )
    when = datetime(2026, 1, 1, tzinfo=UTC).replace(year=datetime.now(UTC).year)
    now = datetime.now(UTC)
    client.track("user-1", "Signed Up 🎉", {"plan": "pro", "seats": 3, "nested": {"x": 1}},
                 context={"page": {"url": "https://localhost/signup"}}, message_id="m-track",
                 timestamp=now)  # fmt: skip
    client.page("user-1", "Docs", "Pricing", {"url": "https://localhost/pricing"},
                message_id="m-page", timestamp=now)  # fmt: skip
    client.identify("user-1", {"email": "someone@example.com"}, message_id="m-identify",
                    timestamp=now)  # fmt: skip
    client.track(anonymous_id="anon-7", event="Ancient", message_id="m-old", timestamp=when)
    client.flush()  # all four go in one /v1/batch
    client.shutdown()
    return errors


async def test_the_official_client_reaches_kafka(
    segment_collector: Collector, site_id: str, kafka: services.KafkaServer, topic: str
) -> None:
    errors = await asyncio.to_thread(run_client, segment_collector.url, WRITE_KEY, True)
    records = {r.id: r for r in await read_records(kafka.bootstrap, topic)}
    # The message from long ago is outside the time window: refused by reason, the rest kept.
    assert set(records) == {"m-track", "m-page", "m-identify"}, errors
    track, page, identify = records["m-track"], records["m-page"], records["m-identify"]
    assert (track.kind, track.name, track.props) == (
        "custom",
        "Signed Up 🎉",
        {"plan": "pro", "seats": 3},
    )
    assert track.url == "https://localhost/signup"
    assert (page.kind, page.name, page.url) == ("pageview", "Pricing", "https://localhost/pricing")
    assert (identify.kind, identify.props) == ("identify", {})
    assert b"someone@example.com" not in b"".join(
        [r.encode() for r in map(repr, records.values())]
    )  # traits are never kept
    # One visitor for one user id, and it is not the id itself.
    assert track.visitor == page.visitor == identify.visitor != "user-1"
    assert {r.site for r in records.values()} == {site_id}
    assert not any(r.bot for r in records.values())


async def test_a_retried_message_keeps_its_id_and_time(
    segment_collector: Collector, kafka: services.KafkaServer, topic: str
) -> None:
    # What a library's retry looks like: the same batch, sent again later.
    body = {
        "batch": [
            {"type": "track", "event": "Bought", "userId": "u", "messageId": "m-1",
             "timestamp": datetime.now(UTC).isoformat()}
        ],
        "sentAt": datetime.now(UTC).isoformat(),
    }  # fmt: skip
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
    for _ in range(2):
        resp = await segment_collector.client.post("/v1/batch", json=body, headers=auth)
        assert resp.status_code == 200 and resp.json()["success"] is True
        await asyncio.sleep(0.05)
    first, second = await read_records(kafka.bootstrap, topic)
    # Same event id and client time: the consumers' dedupe counts the message once.
    assert (first.id, first.client_ts) == (second.id, second.client_ts) == ("m-1", first.client_ts)


async def test_single_endpoints_and_bad_write_keys(segment_collector: Collector) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
    track = {"event": "Clicked", "userId": "u", "messageId": uuid.uuid4().hex}
    assert (
        await segment_collector.client.post("/v1/track", json=track, headers=auth)
    ).status_code == 200
    page = {"name": "Home", "anonymousId": "a", "messageId": uuid.uuid4().hex}
    assert (
        await segment_collector.client.post("/v1/page", json=page, headers=auth)
    ).status_code == 200
    ident = {"userId": "u", "traits": {"x": 1}, "messageId": uuid.uuid4().hex}
    assert (
        await segment_collector.client.post("/v1/identify", json=ident, headers=auth)
    ).status_code == 200
    # In the body, as analytics-python also sends it.
    in_body = {**track, "messageId": uuid.uuid4().hex, "writeKey": WRITE_KEY}
    assert (await segment_collector.client.post("/v1/track", json=in_body)).status_code == 200
    bad = {"Authorization": "Basic " + base64.b64encode(b"nope:").decode()}
    resp = await segment_collector.client.post("/v1/track", json=track, headers=bad)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    assert (await segment_collector.client.post("/v1/track", json=track)).status_code == 401
    no_user = {"event": "X", "messageId": "m"}
    resp = await segment_collector.client.post("/v1/track", json=no_user, headers=auth)
    assert resp.status_code == 400 and resp.json()["rejected"] == [[0, "missing_user"]]
    m = await segment_collector.metrics()
    assert m['microcv_events_rejected_total{reason="bad_write_key"}'] == 2


async def test_the_client_sees_a_refusal_it_will_not_retry(segment_collector: Collector) -> None:
    errors = await asyncio.to_thread(
        run_client, segment_collector.url, "wrong-key-000000000", False
    )
    assert errors and "401" in errors[0]


def test_write_keys_config_errors_are_clear() -> None:
    def sites(**raw: object) -> Sites:
        b = {"domains": ["b.com"], "write_keys": ["k" * 20]}
        return parse_sites({"sites": {"a": {"domains": ["a.com"], **raw}, "b": b}})

    assert parse_write_keys(sites(write_keys=["j" * 20])) == {"j" * 20: "a", "k" * 20: "b"}
    for raw, message in (
        ({"write_keys": "k"}, "a list of strings"),
        ({"write_keys": ["short"]}, "at least 16"),
        ({"write_keys": ["k" * 20]}, "keys are per site"),
    ):
        with pytest.raises(SitesConfigError, match=message):
            parse_write_keys(sites(**raw))
