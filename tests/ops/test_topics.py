"""`microcv topics create|check` against the real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from consumers.ops.cli import main

import services


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch, kafka: services.KafkaServer) -> tuple[str, str]:
    events, dead = f"ops.events.{uuid.uuid4().hex[:8]}", f"ops.dead.{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MICROCV_KAFKA_BOOTSTRAP", kafka.bootstrap)
    monkeypatch.setenv("MICROCV_TOPIC", events)
    monkeypatch.setenv("MICROCV_DEAD_LETTER_TOPIC", dead)
    monkeypatch.delenv("MICROCV_PARTITIONS", raising=False)
    return events, dead


async def _partitions(bootstrap: str, topic: str) -> int:
    # Asked through a consumer's metadata, not the admin client the CLI uses.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()


def test_create_then_check(
    names: tuple[str, str], kafka: services.KafkaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    events, dead = names
    assert main(["topics", "check"]) == 1
    _, err = capsys.readouterr()
    assert f"{events}: missing (run `microcv topics create`)" in err
    assert f"{dead}: missing" in err

    assert main(["topics", "create", "--partitions", "4"]) == 0
    out, _ = capsys.readouterr()
    assert f"created {events}: 4 partitions, replication 1" in out
    assert f"created {dead}: 1 partitions, replication 1" in out
    assert asyncio.run(_partitions(kafka.bootstrap, events)) == 4
    assert asyncio.run(_partitions(kafka.bootstrap, dead)) == 1

    # Creating again is harmless and never changes the partition count (keys would move).
    assert main(["topics", "create", "--partitions", "8"]) == 0
    out, _ = capsys.readouterr()
    assert f"exists  {events}: 4 partitions, replication 1 (asked for 8; left as is)" in out
    assert asyncio.run(_partitions(kafka.bootstrap, events)) == 4

    assert main(["topics", "check", "--partitions", "4"]) == 0
    out, _ = capsys.readouterr()
    assert f"{events}: 4 partitions, replication 1" in out
    assert main(["topics", "check", "--partitions", "8"]) == 1
    _, err = capsys.readouterr()
    assert f"problem: {events}: 4 partitions, expected 8" in err
    assert main(["topics", "check", "--partitions", "4", "--replication", "3"]) == 1
    _, err = capsys.readouterr()
    assert f"problem: {events}: replication 1, expected 3" in err


def test_the_console_script_reports_an_unreachable_broker(names: tuple[str, str]) -> None:
    script = [sys.executable, "-m", "consumers.ops"]
    bootstrap = f"127.0.0.1:{services.free_port()}"
    done = subprocess.run(
        [*script, "topics", "check", "--bootstrap", bootstrap, "--timeout", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"error: cannot reach Kafka at {bootstrap}" in done.stderr
    assert "Traceback" not in done.stderr
