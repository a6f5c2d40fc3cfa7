"""wrk (the Debian package) as the load generator; installs it when missing."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import REPO

import services

BEACON_LUA = REPO / "bench" / "beacon.lua"
REPORT_LUA = REPO / "bench" / "report.lua"


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        services.ensure_system_packages(["wrk"])
    path = shutil.which("wrk")
    if path is None:
        raise services.ServiceError("wrk is not installed: apt-get install -y wrk")
    return path


@dataclass(frozen=True, slots=True)
class WrkRun:
    requests: int
    seconds: float
    errors: int  # non-2xx/3xx answers plus socket errors
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_argv(
    url: str,
    *,
    seconds: float,
    connections: int = 64,
    threads: int = 1,
    script: Path = BEACON_LUA,
    args: tuple[str, ...] = (),
    headers: tuple[str, ...] = (),
) -> list[str]:
    argv = [
        ensure_wrk(), "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
        "--timeout", "10s", "-s", str(script),
    ]  # fmt: skip
    for header in headers:
        argv += ["-H", header]
    return [*argv, url, "--", *args]


def parse(output: str) -> WrkRun:
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            doc = json.loads(line[len("WRKJSON ") :])
            socket_errors = doc["connect"] + doc["read"] + doc["write"] + doc["timeout"]
            return WrkRun(
                requests=doc["requests"],
                seconds=doc["duration_us"] / 1e6,
                errors=doc["status"] + socket_errors,
                p50_ms=doc["p50_us"] / 1000,
                p99_ms=doc["p99_us"] / 1000,
                max_ms=doc["max_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no summary:\n{output[-2000:]}")


def beacon_args(events: int, delay_ms: int = 0) -> tuple[str, ...]:
    return (str(events), uuid.uuid4().hex[:10], str(delay_ms))


def run(url: str, *, seconds: float, connections: int = 64, events: int = 1) -> WrkRun:
    """Beacons of `events` events as fast as the server answers."""
    return _run(wrk_argv(url, seconds=seconds, connections=connections, args=beacon_args(events)))


def run_get(
    url: str, *, seconds: float, connections: int = 16, headers: tuple[str, ...] = ()
) -> WrkRun:
    """Plain GETs of `url` as fast as the server answers."""
    return _run(
        wrk_argv(url, seconds=seconds, connections=connections, script=REPORT_LUA, headers=headers)
    )


def _run(argv: list[str]) -> WrkRun:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse(done.stdout)


async def run_paced(
    url: str, *, seconds: float, rate: float, events: int, connections: int = 16
) -> WrkRun:
    """About `rate` requests/s: each connection waits connections/rate s between requests."""
    delay_ms = max(1, int(connections * 1000 / rate))
    argv = wrk_argv(
        url, seconds=seconds, connections=connections, args=beacon_args(events, delay_ms)
    )
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO,
        env={**os.environ, "BENCH_DELAY_MS": str(delay_ms)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[-2000:]}")
    return parse(out.decode())
