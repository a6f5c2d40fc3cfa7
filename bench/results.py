"""Figures of one run: every measured value with its unit, the load average, the table printed."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    note: str = ""
    load: float = 0.0  # 1-minute load average when the figure was taken


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, name: str, value: float, unit: str, note: str = "") -> Figure:
        figure = Figure(name, round(value, 4), unit, note, round(load_average()[0], 2))
        self.figures.append(figure)
        print(f"  {name:<44} {_fmt(value):>12} {unit:<10} {note}", flush=True)
        return figure

    def get(self, name: str) -> float | None:
        for figure in reversed(self.figures):
            if figure.name == name:
                return figure.value
        return None

    def ratio(self, name: str, real: float, bare: float, note: str = "") -> None:
        self.add(name, real / bare if bare else 0.0, "ratio", note)

    def as_json(self) -> dict[str, Any]:
        return {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average_at_end": load_average(),
            "notes": self.notes,
            "figures": [asdict(f) for f in self.figures],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")

    def table(self) -> str:
        lines = [f"{'figure':<44} {'value':>12} {'unit':<10} {'load':>5}  note", "-" * 96]
        lines += [
            f"{f.name:<44} {_fmt(f.value):>12} {f.unit:<10} {f.load:>5.2f}  {f.note}"
            for f in self.figures
        ]
        return "\n".join(lines)


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
