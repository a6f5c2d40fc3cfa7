"""Background loops: how the parts that own one stop it."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a background loop and wait until it has stopped; nothing when there is none, so
    a stop() built on it is safe twice."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
