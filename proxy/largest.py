"""The largest charge booked on the grid lately: what another proxy may be booking any moment.

Rule 4 of `headroom` (`proxy.headroom.rank`) sends a charge outside its own shard only if the
substation found there would stay emptier even with its owner's charge booked at the same
moment. This proxy cannot know that charge, but it hears every booking the grid makes (its
own, its sibling workers', and the others' on the load streams, `grid.booked`), so it takes
the largest of the last `window_s` as what the owner's may be (docs/balance-lab.md, the city
with failures). A sliding-window maximum: each booking is kept until a larger one after it or
its age makes it irrelevant, so adding and asking cost O(1) amortized.

Pure: kW and times in, kW out; the clock is an argument.
"""

from __future__ import annotations

from collections import deque


class LargestLately:
    """The largest kW added within the last `window_s` before a time."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        # (booked at, kW), the kW strictly falling from the front: the front is the largest.
        self._candidates: deque[tuple[float, float]] = deque()

    def add(self, kw: float, now: float) -> None:
        candidates = self._candidates
        while candidates and candidates[-1][1] <= kw:
            candidates.pop()  # smaller and older: never the largest again
        candidates.append((now, kw))

    def largest(self, now: float) -> float:
        """The largest kW added in (now - window_s, now]; 0 if none."""
        candidates = self._candidates
        while candidates and candidates[0][0] <= now - self._window_s:
            candidates.popleft()
        return candidates[0][1] if candidates else 0.0
