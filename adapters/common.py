"""Small helpers several adapters share (nothing platform-specific)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Any


class Bounded(OrderedDict):
    """A small LRU mapping (the oldest entries go first)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        """Set ``key`` as the newest entry, dropping the oldest beyond ``size``."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


async def cancel(task: asyncio.Task | None) -> None:
    """Cancel a background loop (polling, syncing) and wait for it, whatever it ended with."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
