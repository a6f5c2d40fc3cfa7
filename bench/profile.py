"""Profiles of the hot paths with py-spy: the collector under wrk, the worker draining a topic.

py-spy starts the real entry point as its child (attaching to a running pid is refused in this
sandbox) and writes collapsed stacks; `summarize` turns them into each function's share of the
samples, on its own (self) and with what it calls (inclusive).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench import REPO, records, wrk
from bench.infra import SITE, Infra

import services


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    self_share: list[tuple[str, float]]
    inclusive_share: list[tuple[str, float]]

    def render(self, title: str, top: int = 15) -> str:
        lines = [f"## {title}: {self.samples} samples", "", "self:"]
        lines += [f"  {share:6.1%}  {name}" for name, share in self.self_share[:top]]
        lines += ["", "inclusive (microcv code and its libraries):"]
        lines += [f"  {share:6.1%}  {name}" for name, share in self.inclusive_share[:top]]
        return "\n".join(lines) + "\n"


def _frame(raw: str) -> str:
    # "send (/…/site-packages/aiokafka/producer.py:301)" -> "send (aiokafka/producer.py)"
    func, _, where = raw.strip().partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{REPO}/"):
        path = path.split(marker)[-1]
    return f"{func} ({path})"


def summarize(collapsed: str, focus: tuple[str, ...] = ("collector/", "consumers/")) -> Profile:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            if any(part in name for part in focus):
                inclusive[name] += n
    total = total or 1
    return Profile(
        samples=total,
        self_share=[(name, n / total) for name, n in own.most_common()],
        inclusive_share=[(name, n / total) for name, n in inclusive.most_common()],
    )


def _py_spy(out: Path, argv: list[str], seconds: float | None = None) -> list[str]:
    spy = str(Path(sys.executable).with_name("py-spy"))
    duration = ["-d", f"{seconds:.0f}"] if seconds else []
    return [spy, "record", "--nonblocking", "--format", "raw", "-r", "200", *duration,
            "-o", str(out), "--", *argv]  # fmt: skip


def collector(infra: Infra, out: Path, seconds: float) -> Profile:
    topic = infra.topic()
    port = services.free_port()
    env = infra.env(topic, MICROCV_COLLECTOR_PORT=str(port))
    argv = _py_spy(out, [sys.executable, "-m", "collector"], seconds + 8)
    proc = infra.spawn("profile-collector", argv, env, f"http://{services.HOST}:{port}")
    proc.wait_http()
    wrk.run(f"{proc.url}/v1/collect", seconds=seconds, events=10)
    proc.popen.wait(timeout=seconds + 60)  # py-spy stops at its duration and writes the file
    proc.stop()
    return summarize(out.read_text())


def worker(infra: Infra, out: Path, events: int) -> Profile:
    topic = infra.topic()
    asyncio.run(records.produce(infra.kafka.bootstrap, topic, records.kafka_values(SITE, events)))
    env = infra.env(topic, MICROCV_BURST_IDLE_S="1")
    argv = _py_spy(out, [sys.executable, "-m", "consumers", "--burst"])
    proc = infra.spawn("profile-worker", argv, env)
    started = time.monotonic()
    proc.popen.wait(timeout=600)
    if not out.exists():
        raise RuntimeError(f"py-spy wrote nothing after {time.monotonic() - started:.0f} s")
    return summarize(out.read_text())
