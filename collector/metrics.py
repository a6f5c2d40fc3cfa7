"""Collector metrics, kept in process and served in the Prometheus text format.

The books balance: every accepted event was either acknowledged by Kafka (produced) or fsynced to
the disk spool (spooled), so accepted == produced + spooled at every scrape. Events of requests
still waiting for Kafka are `in_flight` and in none of the three until the request is answered.
Spooled events are later `replayed` into Kafka; `spool_events` are those still waiting.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from typing import Final

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

    def render(self) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, doc: str, value: float) -> None:
            lines.extend((f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name} {value}"))

        metric("microcv_events_accepted_total", "counter", "Events answered 2xx.", self.accepted)
        metric(
            "microcv_events_produced_total",
            "counter",
            "Accepted events Kafka acknowledged before the answer.",
            self.produced,
        )
        metric(
            "microcv_events_spooled_total",
            "counter",
            "Accepted events fsynced to the disk spool because Kafka could not take them.",
            self.spooled,
        )
        metric(
            "microcv_events_replayed_total",
            "counter",
            "Spooled events Kafka acknowledged later.",
            self.replayed,
        )
        metric("microcv_events_bot_total", "counter", "Accepted events sent by bots.", self.bots)
        metric(
            "microcv_events_ignored_total",
            "counter",
            "Valid events the site counts as nothing (a link click on a site with clicks off, a "
            "dead click on a download or outbound link: collector/links.py).",
            self.ignored,
        )
        metric(
            "microcv_events_in_flight",
            "gauge",
            "Events of requests still waiting for Kafka or the spool.",
            self.in_flight,
        )
        metric(
            "microcv_events_produced_then_refused_total",
            "counter",
            "Events Kafka acknowledged in a request answered 503 (the client's retry repeats "
            "them; the consumers' event-id dedupe absorbs it).",
            self.produced_then_refused,
        )
        for name, (doc, read) in sorted(self.gauges.items()):
            metric(name, "gauge", doc, read())
        lines += [
            "# HELP microcv_events_rejected_total Events or requests refused, by reason.",
            "# TYPE microcv_events_rejected_total counter",
        ]
        lines += [
            f'microcv_events_rejected_total{{reason="{reason}"}} {n}'
            for reason, n in sorted(self.rejected.items())
        ]
        lines += [
            "# HELP microcv_produce_seconds Time from send to Kafka's ack, per request.",
            "# TYPE microcv_produce_seconds histogram",
            *self.produce_latency.render("microcv_produce_seconds"),
        ]
        return "\n".join(lines) + "\n"
