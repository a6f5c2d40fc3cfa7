"""What the worker's resident size is made of: the worker under tracemalloc at half capacity.

    .venv/bin/python -m bench.heap --minutes 16 --capacity 42218 --out /tmp/heap.txt

Starts Kafka, Redis and the collector as `make bench` does, runs `python -m consumers` with
tracemalloc on (through `python -m bench.heap --traced-worker`), paces 10-event beacons with wrk
and, every minute, writes the worker's resident size, its traced Python heap, glibc's heap (taken
from the system, in use) and the cycle collector's counts; at the two snapshot minutes it writes
the allocations that differ most between them. RSS grows when a batch larger than any before it
leaves glibc's heap larger, its freed blocks kept (taken minus in use); a structure that grows
with time shows up in the difference. tracemalloc slows the worker
several times over, so this is not the memory benchmark itself (bench/freshness.py is).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import TextIO

from bench import wrk
from bench.freshness import rss_mb
from bench.infra import infra

OUT_ENV = "MICROCV_HEAP_OUT"
SNAPS_ENV = "MICROCV_HEAP_SNAPSHOTS"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _glibc_heap_mb() -> tuple[float, float] | None:
    """(taken from the system, in use) by glibc's malloc outside mmapped blocks; None off glibc.
    Read in-process: attaching a debugger to call malloc_stats() moves the figures it reads."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return round(info.arena / 1e6, 3), round(info.uordblks / 1e6, 3)


def _sample(out: TextIO, first_snap: int, last_snap: int) -> None:
    first: tracemalloc.Snapshot | None = None
    minute = 0
    while True:
        time.sleep(60)
        minute += 1
        traced, peak = tracemalloc.get_traced_memory()
        line = {
            "minute": minute,
            "rss_mb": round(rss_mb(os.getpid()), 2),
            "traced_mb": round(traced / 1e6, 3),
            "traced_peak_mb": round(peak / 1e6, 3),
            "glibc_taken_in_use_mb": _glibc_heap_mb(),
            "gc_count": gc.get_count(),
            "gc_collections": [s["collections"] for s in gc.get_stats()],
        }
        print(json.dumps(line), file=out, flush=True)
        if minute not in (first_snap, last_snap):
            continue
        # The snapshot's own blocks are left out: they are traced too.
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if first is None:
            first = snap
            continue
        print(f"--- largest differences, minute {first_snap} -> {last_snap}", file=out)
        for stat in snap.compare_to(first, "traceback")[:15]:
            print(stat, file=out)
            for frame in stat.traceback.format():
                print("      " + frame, file=out)
        out.flush()


def traced_worker() -> None:
    """`python -m consumers`, with tracemalloc and a sampling thread."""
    tracemalloc.start(4)
    first, last = (int(x) for x in os.environ[SNAPS_ENV].split(","))
    out = Path(os.environ[OUT_ENV]).open("w")  # noqa: SIM115 - open for the process's life
    threading.Thread(target=_sample, args=(out, first, last), daemon=True).start()
    sys.argv = ["consumers"]
    runpy.run_module("consumers", run_name="__main__", alter_sys=True)


def main() -> None:
    doc = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.heap", description=doc)
    parser.add_argument("--minutes", type=float, default=16)
    parser.add_argument("--capacity", type=float, default=40_000, help="events/s (wrk paces ~half)")
    parser.add_argument("--out", type=Path, default=Path("heap.txt"))
    parser.add_argument("--traced-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.traced_worker:
        traced_worker()
        return
    last = max(int(args.minutes) - 1, 2)
    with infra() as run:
        topic = run.topic()
        env = run.env(topic)
        env.update({OUT_ENV: str(args.out.resolve()), SNAPS_ENV: f"{min(3, last - 1)},{last}"})
        collector = run.collector(env)
        run.spawn("worker", [sys.executable, "-m", "bench.heap", "--traced-worker"], env)
        load = asyncio.run(
            wrk.run_paced(
                f"{collector.url}/v1/collect",
                seconds=args.minutes * 60,
                rate=args.capacity / 10,
                events=10,
            )
        )
        print(f"load: {load.rps * 10:,.0f} events/s for {args.minutes:g} min; see {args.out}")


if __name__ == "__main__":
    main()
