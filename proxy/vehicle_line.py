"""One charge per vehicle at a time through a proxy; the others wait in line, in order.

A second `POST /charge` for a vehicle whose first is still on its way waits for it, then goes
where the first booked (`SessionDirectory`), which answers 200 with the same session: nothing
is booked twice, on any substation. Pure: the proxy's router keeps futures in it, the
simulator its trips.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")


class VehicleLine(Generic[Item]):
    def __init__(self) -> None:
        # Vehicles with a charge in flight, each with the charges waiting behind it.
        self._waiting: dict[str, deque[Item]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def busy(self, vehicle_id: str) -> bool:
        return vehicle_id in self._waiting

    def start(self, vehicle_id: str) -> None:
        """A charge for a vehicle not `busy` goes now."""
        assert vehicle_id not in self._waiting, "start() of a busy vehicle"
        self._waiting[vehicle_id] = deque()

    def wait(self, vehicle_id: str, item: Item) -> None:
        """A charge for a `busy` vehicle waits for `finish` to hand it the turn."""
        self._waiting[vehicle_id].append(item)

    def finish(self, vehicle_id: str) -> Item | None:
        """The vehicle's charge in flight is done: the next waiting, now in flight, or None."""
        line = self._waiting[vehicle_id]
        if line:
            return line.popleft()
        del self._waiting[vehicle_id]
        return None

    def withdraw(self, vehicle_id: str, item: Item) -> None:
        """A waiting charge gave up before its turn (its client hung up)."""
        line = self._waiting.get(vehicle_id)
        if line is not None and item in line:
            line.remove(item)
