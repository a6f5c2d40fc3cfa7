"""A progress bar on a terminal; on a pipe or a file, a plain line every few seconds instead."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, total: int, out: TextIO, *, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self._out = out
        self._enabled = enabled
        self._tty = out.isatty()
        self._interval = 0.1 if self._tty else 5.0
        self._started = time.monotonic()
        self._shown = 0.0

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(WIDTH * fraction)
        rate = self.done / max(time.monotonic() - self._started, 1e-9)
        return (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} rows "
            f"{fraction:4.0%} {rate:,.0f}/s"
        )

    def _show(self, end: str) -> None:
        if self._tty:
            self._out.write(f"\r{self.line()}{end}")
        else:
            self._out.write(f"{self.line()}\n")
        self._out.flush()
        self._shown = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        if self._enabled and time.monotonic() - self._shown >= self._interval:
            self._show("")

    def finish(self) -> None:
        if self._enabled:
            self._show("\n")
