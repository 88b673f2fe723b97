"""Background loops stop when their service stops, even when a cancel gets lost on the way."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from grid import background
from grid.background import LoopWouldNotStop, running


async def test_a_loop_that_loses_one_cancel_is_cancelled_again() -> None:
    ended = asyncio.Event()

    async def loses_a_cancel() -> None:
        # As asyncio.wait_for does before 3.12 when its result comes with the cancel:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    async with asyncio.timeout(10):  # the old `await task` waited here for ever
        async with running(loses_a_cancel):
            await asyncio.sleep(0)
    assert ended.is_set()


async def test_a_loop_that_ignores_every_cancel_is_an_error_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(background, "CANCEL_GRACE_S", 0.01)
    monkeypatch.setattr(background, "MAX_CANCELS", 3)
    cancels = 0

    async def ignores_cancels() -> None:
        nonlocal cancels
        while cancels < 10:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1

    task = asyncio.create_task(ignores_cancels())
    await asyncio.sleep(0)
    with pytest.raises(LoopWouldNotStop):
        await background.stop([task])
    assert cancels == 3
    task.cancel()
    await asyncio.sleep(0)  # let it run to its end: it gives up after ten cancels
    while not task.done():
        task.cancel()
        await asyncio.sleep(0)


async def test_a_loop_that_failed_raises_its_error_on_stop() -> None:
    async def fails() -> None:
        raise ValueError("broken loop")

    with pytest.raises(ValueError, match="broken loop"):
        async with running(fails):
            await asyncio.sleep(0.01)
