"""`microcv replay` into a real collector; what lands in Kafka is read back and compared."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.ops.cli import main

import services
from .support import StartCollector, read_records

VISITORS = 7


def _rows(site: str, n: int, *, ips: bool = True) -> list[dict[str, str]]:
    """n rows; with `ips`, from VISITORS client addresses, else all from this host."""
    kinds = ["pageview", "click", "scroll", "download"]
    rows = [
        {
            "site": site,
            "kind": kinds[i % 4],
            "name": {"click": "add_to_cart", "scroll": "50", "download": "a.pdf"}.get(
                kinds[i % 4], ""
            ),
            "url": f"https://shop.example/p/{i % 5}",
            "props": json.dumps({"row": i}) if i % 3 == 0 else "",
            "ip": f"203.0.113.{i % VISITORS + 1}",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        }
        for i in range(n)
    ]
    if not ips:
        for row in rows:
            del row["ip"]
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


async def _main(*argv: str) -> int:
    # main() runs its own event loop, as the console script does.
    return await asyncio.to_thread(main, list(argv))


async def test_csv_replay_lands_in_kafka_once_with_stable_ids(
    start_collector: StartCollector,
    kafka: services.KafkaServer,
    site_id: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    collector = await start_collector(MICROCV_TRUSTED_PROXIES="127.0.0.1/32")
    rows = _rows(site_id, 230)
    path = tmp_path / "clicks.csv"
    _write_csv(path, rows)

    assert await _main("replay", str(path), "--collector", collector.url, "--batch-size", "20") == 0
    out, err = capsys.readouterr()
    assert "rows 230, accepted 230, rejected 0, failed 0, bad rows 0" in out
    assert "230/230 rows 100%" in err  # the progress bar's last state

    records = await read_records(kafka.bootstrap, collector.topic, 230)
    assert len(records) == 230
    by_id = {r.id: r for r in records}
    assert len(by_id) == 230
    # The file's rows, field by field, in one visitor per client IP (the collector trusts us).
    assert Counter(r.kind for r in records) == Counter(row["kind"] for row in rows)
    assert sorted(r.props["row"] for r in records if "row" in r.props) == list(range(0, 230, 3))
    assert len({r.visitor for r in records}) == VISITORS
    assert {r.site for r in records} == {site_id}

    # The same file again: rows without an id column get the same ids, so consumers dedupe them.
    assert await _main("replay", str(path), "--collector", collector.url, "--quiet") == 0
    again = await read_records(kafka.bootstrap, collector.topic, 460)
    assert len(again) == 460
    assert Counter(Counter(r.id for r in again).values()) == {2: 230}


async def test_jsonl_replay_honours_429_and_reports_bad_rows(
    start_collector: StartCollector,
    kafka: services.KafkaServer,
    site_id: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Five requests a second with a burst of two: twelve batches of ten get 429s.
    collector = await start_collector(MICROCV_CLIENT_RATE="5", MICROCV_CLIENT_BURST="2")
    # Without an ip column every request comes from this host, so they share one client bucket.
    rows = [{**r, "id": f"ev-{i}"} for i, r in enumerate(_rows(site_id, 120, ips=False))]
    lines = [orjson.dumps(r).decode() for r in rows]
    lines.insert(6, "{not json")
    lines.insert(
        9,
        orjson.dumps(
            {"site": site_id, "kind": "teleport", "url": "https://shop.example/"}
        ).decode(),
    )
    path = tmp_path / "clicks.jsonl"
    path.write_text("\n".join(lines) + "\n")

    code = await _main("replay", str(path), "--collector", collector.url, "--batch-size", "10")
    out, _ = capsys.readouterr()
    assert code == 1  # bad rows make the replay fail, after sending every good row
    assert "rows 122, accepted 120, rejected 0, failed 0, bad rows 2" in out
    assert "bad row: line 7: not JSON" in out
    assert "bad row: line 10: " in out and "kind" in out
    assert "retried after: http_429" in out

    records = await read_records(kafka.bootstrap, collector.topic, 120)
    assert sorted(r.id for r in records) == sorted(f"ev-{i}" for i in range(120))


async def test_replay_gives_up_on_an_unreachable_collector(
    site_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clicks.csv"
    _write_csv(path, _rows(site_id, 3))
    url = f"http://127.0.0.1:{services.free_port()}"
    assert await _main("replay", str(path), "--collector", url, "--give-up-after", "1") == 1
    out, _ = capsys.readouterr()
    assert "accepted 0" in out and "given up: ConnectError 3" in out


@contextlib.asynccontextmanager
async def _serve(app: Starlette) -> AsyncIterator[str]:
    port = services.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn's Server offers only a flag
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_replay_waits_retry_after_on_503_and_resends_the_same_events(
    site_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A seam test: a collector whose spool is full answers 503 with Retry-After; reaching that
    # state for real is the collector's own test. Here: what the replay does with the answer.
    seen: list[tuple[float, dict[str, object]]] = []

    async def collect(request: Request) -> Response:
        seen.append((time.monotonic(), orjson.loads(await request.body())))
        if len(seen) <= 2:
            return JSONResponse(
                {"error": "spool_full"}, status_code=503, headers={"Retry-After": "1"}
            )
        return JSONResponse({"accepted": 4, "rejected": []}, status_code=202)

    path = tmp_path / "clicks.csv"
    _write_csv(path, _rows(site_id, 4, ips=False))  # one group: one request
    async with _serve(Starlette(routes=[Route("/v1/collect", collect, methods=["POST"])])) as url:
        assert await _main("replay", str(path), "--collector", url) == 0
    out, _ = capsys.readouterr()
    assert "accepted 4" in out and "retried after: http_503 2" in out
    assert len(seen) == 3
    assert seen[1][0] - seen[0][0] >= 0.9 and seen[2][0] - seen[1][0] >= 0.9
    events = [body["e"] for _, body in seen]
    assert events[0] == events[1] == events[2]  # same ids and event times on every attempt
