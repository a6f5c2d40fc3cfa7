"""Bounds on a request's head: size (431) and time (408), on a real collector over raw sockets."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import orjson

from collector.httpguard import MAX_HEAD_BYTES
from tests.collector.conftest import CHROME_UA, ORIGIN, Collector, StartCollector, beacon, event


async def _open(collector: Collector) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlsplit(collector.url)
    assert url.hostname is not None and url.port is not None
    return await asyncio.open_connection(url.hostname, url.port)


def _head(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/collect HTTP/1.1\r\nHost: c\r\nOrigin: %s\r\nUser-Agent: %s\r\n"
        b"Content-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n"
        % (ORIGIN.encode(), CHROME_UA.encode(), len(body), extra)
    )


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    raw = await asyncio.wait_for(reader.read(65536), 30)
    head, _, rest = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


async def test_a_head_past_the_limit_gets_431_and_a_metric(
    collector: Collector, site_id: str
) -> None:
    body = orjson.dumps(beacon(site_id, [event()]))
    # Under the limit, in several writes: accepted.
    reader, writer = await _open(collector)
    writer.write(_head(body, b"X-Pad: " + b"a" * (MAX_HEAD_BYTES - 2048) + b"\r\n") + body)
    assert (await _answer(reader))[0] == 202
    writer.close()
    # Past it, streamed: refused before the head ends, not buffered for ever.
    reader, writer = await _open(collector)
    writer.write(_head(b"")[:-2] + b"X-Big: ")
    for _ in range(64):
        writer.write(b"a" * 16384)
        await writer.drain()
        if reader.at_eof() or writer.is_closing():
            break
    status, rest = await _answer(reader)
    assert (status, orjson.loads(rest)["error"]) == (431, "headers_too_large")
    writer.close()
    # Past it, in one write (the whole head arrives in one read): measured as it is parsed.
    for extra in (
        b"X-Pad: " + b"a" * (MAX_HEAD_BYTES + 1000) + b"\r\n",
        b"".join(b"X-H%d: v\r\n" % i for i in range(8000)),  # many small headers
    ):
        reader, writer = await _open(collector)
        writer.write(_head(body, extra) + body)
        status, rest = await _answer(reader)
        assert (status, orjson.loads(rest)["error"]) == (431, "headers_too_large")
        writer.close()
    m = await collector.metrics()
    assert m['microcv_events_rejected_total{reason="headers_too_large"}'] == 3
    assert m["microcv_events_accepted_total"] == 1


async def test_a_head_that_trickles_or_never_comes_is_timed_out(
    start_collector: StartCollector, site_id: str
) -> None:
    collector = await start_collector(body_timeout_s=1.0)
    body = orjson.dumps(beacon(site_id, [event()]))
    # A header line every 0.2 s: each keeps the connection busy, none completes the head.
    reader, writer = await _open(collector)
    writer.write(b"POST /v1/collect HTTP/1.1\r\nHost: c\r\n")
    started = time.monotonic()
    answer = asyncio.ensure_future(_answer(reader))
    while not answer.done() and time.monotonic() - started < 10:
        writer.write(b"X-Slow: a\r\n")
        await asyncio.sleep(0.2)
    status, rest = await answer
    assert (status, orjson.loads(rest)["error"]) == (408, "header_timeout")
    assert time.monotonic() - started < 5
    writer.close()
    # A connection that says nothing is closed.
    reader, writer = await _open(collector)
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    # Keep-alive requests are untouched: each head is timed from its own first byte.
    reader, writer = await _open(collector)
    for _ in range(3):
        writer.write(_head(body) + body)
        assert (await _answer(reader))[0] == 202
        await asyncio.sleep(0.6)
    writer.close()
    m = await collector.metrics()
    assert m['microcv_events_rejected_total{reason="header_timeout"}'] == 1


async def test_what_httptools_cannot_parse_gets_400_bad_http_and_a_metric(
    collector: Collector,
) -> None:
    smuggled = (
        b"POST /v1/collect HTTP/1.1\r\nHost: c\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    for raw in (smuggled, b"POST /v1/collect HTTP/1.1\r\nContent-Length: -1\r\n\r\n"):
        reader, writer = await _open(collector)
        writer.write(raw)
        status, rest = await _answer(reader)
        assert (status, orjson.loads(rest)["error"]) == (400, "bad_http")
        writer.close()
    m = await collector.metrics()
    assert m['microcv_events_rejected_total{reason="bad_http"}'] == 2
