"""Query API metrics, kept in process and served in the Prometheus text format."""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.answered = 0
        self.refused: Counter[str] = Counter()
        self.streams = 0  # SSE streams open right now

    def refuse(self, reason: str) -> None:
        self.refused[reason] += 1

    def render(self) -> str:
        lines = [
            "# HELP microcv_api_answered_total Requests answered with data.",
            "# TYPE microcv_api_answered_total counter",
            f"microcv_api_answered_total {self.answered}",
            "# HELP microcv_api_refused_total Requests refused (4xx or 503), by reason.",
            "# TYPE microcv_api_refused_total counter",
            *(
                f'microcv_api_refused_total{{reason="{reason}"}} {n}'
                for reason, n in sorted(self.refused.items())
            ),
            "# HELP microcv_api_streams Live streams open.",
            "# TYPE microcv_api_streams gauge",
            f"microcv_api_streams {self.streams}",
        ]
        return "\n".join(lines) + "\n"
