"""Background loops of a service, run for as long as a `with` block (an app's cleanup_ctx)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from typing import Any

# How long a loop gets to end after each cancel before it is cancelled again, and how many
# cancels it gets before stopping is called a failure.
CANCEL_GRACE_S = 0.5
MAX_CANCELS = 20


class LoopWouldNotStop(RuntimeError):
    """A background task outlived every cancel: it swallows `CancelledError` somewhere."""


@contextlib.asynccontextmanager
async def running(loop: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    """Run `loop()` as a task inside the block; cancel it, and wait for it, on the way out."""
    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop([task])


async def stop(tasks: Collection[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until every one has ended, cancelling again while one runs on.

    A single cancel can be lost: before Python 3.12, `asyncio.wait_for` returns its result when
    the awaited thing finishes in the same loop iteration as the cancel, and a library may turn
    a cancel into a timeout. Waiting on such a task once would hang a service's shutdown (and a
    test's teardown) forever; here it gets cancelled again, and a bounded number of times.
    """
    pending = {task for task in tasks if not task.done()}
    for _ in range(MAX_CANCELS):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_GRACE_S)
    if pending:
        raise LoopWouldNotStop(f"{len(pending)} task(s) ignored {MAX_CANCELS} cancels")
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
