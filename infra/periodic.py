"""Background work that runs beside the consumers and starts and stops with the hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from infra.errors import describe

log = logging.getLogger(__name__)


class Background(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Periodic:
    """Calls `job` every `interval_s` (first call at start); a failing round is logged, the next one comes anyway."""

    def __init__(self, name: str, interval_s: float, job: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.interval_s = interval_s
        self._job = job
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"periodic-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._job()
                self.rounds += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("periodic %s failed: %s", self.name, describe(exc))
            await asyncio.sleep(self.interval_s)
