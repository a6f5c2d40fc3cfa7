"""Collector metrics, kept in process and served in the Prometheus text format."""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.accepted = 0
        self.produced = 0
        self.rejected: Counter[str] = Counter()

    def reject(self, reason: str, n: int = 1) -> None:
        self.rejected[reason] += n

    def render(self) -> str:
        lines = [
            "# HELP microcv_events_accepted_total Events answered with 2xx.",
            "# TYPE microcv_events_accepted_total counter",
            f"microcv_events_accepted_total {self.accepted}",
            "# HELP microcv_events_produced_total Events acknowledged by Kafka.",
            "# TYPE microcv_events_produced_total counter",
            f"microcv_events_produced_total {self.produced}",
            "# HELP microcv_events_rejected_total Events or requests refused, by reason.",
            "# TYPE microcv_events_rejected_total counter",
        ]
        lines += [
            f'microcv_events_rejected_total{{reason="{reason}"}} {n}'
            for reason, n in sorted(self.rejected.items())
        ]
        return "\n".join(lines) + "\n"
