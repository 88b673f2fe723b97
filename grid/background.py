"""Background loops of a service, run for as long as a `with` block (an app's cleanup_ctx)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running(loop: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    """Run `loop()` as a task inside the block; cancel it, and wait for it, on the way out."""
    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
