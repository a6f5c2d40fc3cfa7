"""Collector metrics, kept in process and served in the Prometheus text format.

The books balance: every accepted event was either acknowledged by Kafka (produced) or fsynced to
the disk spool (spooled), so accepted == produced + spooled at every scrape. Events of requests
still waiting for Kafka are `in_flight` and in none of the three until the request is answered.
Spooled events are later `replayed` into Kafka; `spool_events` are those still waiting.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

# Produce latency buckets (s): a healthy broker on a LAN acknowledges in a few ms; the top buckets
# show waits close to the produce bound.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    def render(self, name: str) -> list[str]:
        lines = []
        cumulative = 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            cumulative += n
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"{name}_sum {self.sum:.6f}")
        lines.append(f"{name}_count {cumulative}")
        return lines


class Metrics:
    def __init__(self) -> None:
        self.accepted = 0
        self.produced = 0
        self.spooled = 0
        self.replayed = 0
        self.bots = 0
        self.ignored = 0
        self.in_flight = 0
        self.produced_then_refused = 0
        self.rejected: Counter[str] = Counter()
        self.produce_latency = Histogram(LATENCY_BUCKETS)
        # Filled in by the app: values read at scrape time from the parts that own them.
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def reject(self, reason: str, n: int = 1) -> None:
        self.rejected[reason] += n

    def snapshot(self) -> dict[str, Any]:
        """Every figure of this process as plain numbers: what a worker shares with its
        siblings (collector/siblings.py) so that any of them can answer for all."""
        return {
            "counters": {name: getattr(self, name) for name in _COUNTERS},
            "gauges": {name: read() for name, (_, read) in self.gauges.items()},
            "rejected": dict(self.rejected),
            "latency": {"counts": self.produce_latency.counts, "sum": self.produce_latency.sum},
        }

    def render(self, others: Iterable[Mapping[str, Any]] = ()) -> str:
        """The Prometheus text of this process, plus the snapshots of its sibling workers:
        every counter and gauge summed (the spool figures are then the collector's total, and
        microcv_kafka_down the number of workers spooling)."""
        total = merged([self.snapshot(), *others])
        return self._render(total)

    def _render(self, total: dict[str, Any]) -> str:
        counters = total["counters"]
        lines: list[str] = []

        def metric(name: str, kind: str, doc: str, value: float) -> None:
            lines.extend((f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name} {value}"))

        for attr, (name, kind, doc) in _COUNTERS.items():
            metric(name, kind, doc, counters[attr])
        for name, (doc, _) in sorted(self.gauges.items()):
            metric(name, "gauge", doc, total["gauges"].get(name, 0))
        lines += [
            "# HELP microcv_events_rejected_total Events or requests refused, by reason.",
            "# TYPE microcv_events_rejected_total counter",
        ]
        lines += [
            f'microcv_events_rejected_total{{reason="{reason}"}} {n}'
            for reason, n in sorted(total["rejected"].items())
        ]
        latency = Histogram(self.produce_latency.buckets)
        latency.counts, latency.sum = total["latency"]["counts"], total["latency"]["sum"]
        lines += [
            "# HELP microcv_produce_seconds Time from send to Kafka's ack, per request.",
            "# TYPE microcv_produce_seconds histogram",
            *latency.render("microcv_produce_seconds"),
        ]
        return "\n".join(lines) + "\n"


def merged(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The sum of snapshots (Metrics.snapshot), any part of each may be missing."""
    total: dict[str, Any] = {"counters": {}, "gauges": {}, "rejected": {}, "latency": {}}
    for one in snapshots:
        for part in ("counters", "gauges", "rejected"):
            for key, value in one.get(part, {}).items():
                if isinstance(value, int | float):
                    total[part][key] = total[part].get(key, 0) + value
        latency = one.get("latency", {})
        counts = latency.get("counts", [])
        mine = total["latency"].get("counts")
        if mine is None:
            total["latency"] = {"counts": list(counts), "sum": latency.get("sum", 0.0)}
        elif len(counts) == len(mine):
            total["latency"]["counts"] = [a + b for a, b in zip(mine, counts, strict=True)]
            total["latency"]["sum"] += latency.get("sum", 0.0)
    return total


def carried(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """What a worker taking over a slot adds to its own figures from the slot's last snapshot:
    the counters, so that the collector's sums never go down when a worker is replaced (a drop
    reads as a reset to Prometheus, and rate() would count the survivors' whole totals again);
    not the gauges, which describe the process that is gone."""
    counters = {k: v for k, v in snapshot.get("counters", {}).items() if k != "in_flight"}
    return {
        "counters": counters,
        "rejected": dict(snapshot.get("rejected", {})),
        "latency": dict(snapshot.get("latency", {})),
    }


# attribute -> (metric name, type, help), in the order they are rendered.
_COUNTERS: Final = {
    "accepted": ("microcv_events_accepted_total", "counter", "Events answered 2xx."),
    "produced": (
        "microcv_events_produced_total",
        "counter",
        "Accepted events Kafka acknowledged before the answer.",
    ),
    "spooled": (
        "microcv_events_spooled_total",
        "counter",
        "Accepted events fsynced to the disk spool because Kafka could not take them.",
    ),
    "replayed": (
        "microcv_events_replayed_total",
        "counter",
        "Spooled events Kafka acknowledged later.",
    ),
    "bots": ("microcv_events_bot_total", "counter", "Accepted events sent by bots."),
    "ignored": (
        "microcv_events_ignored_total",
        "counter",
        "Valid events the site counts as nothing (a link click on a site with clicks off, a "
        "dead click on a download or outbound link: collector/links.py).",
    ),
    "in_flight": (
        "microcv_events_in_flight",
        "gauge",
        "Events of requests still waiting for Kafka or the spool.",
    ),
    "produced_then_refused": (
        "microcv_events_produced_then_refused_total",
        "counter",
        "Events Kafka acknowledged in a request answered 503 (the client's retry repeats "
        "them; the consumers' event-id dedupe absorbs it).",
    ),
}
