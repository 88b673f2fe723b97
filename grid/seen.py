"""How many charges a substation has taken from each proxy worker, for the load reports.

The workers of one proxy (`--workers`) tell each other what they have in flight
(`proxy.siblings`). A load report a worker gets may already hold some of a sibling's requests
still in flight (the substation took them; their answers are on their way), and counting them
again would steer charges away from the very substations they just filled. So each charge a
proxy worker sends names it (`X-Proxy-Ref: <proxy>.<worker>`), the substation counts what it
took from each, and its load reports carry the counts (`X-Substation-Seen` for the workers of
the asking proxy; every count on the load stream). A worker that sent N requests of which the
report has seen C has N - C of them not held by it.

Pure: names in, counts out. A substation keeps the `MAX_REFS` names it heard from last.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping

HEADER_PROXY_REF = "X-Proxy-Ref"
HEADER_SEEN = "X-Substation-Seen"
PROXY_REF_PATTERN = re.compile(r"[0-9a-f]{1,16}\.[0-9]{1,4}")
MAX_REFS = 64


class ChargesSeen:
    """Charges taken (booked, repeated or refused) from each proxy worker since this
    substation's ledger began."""

    def __init__(self, limit: int = MAX_REFS) -> None:
        self._limit = limit
        self._counts: OrderedDict[str, int] = OrderedDict()

    def count(self, ref: str | None) -> None:
        """One charge taken from `ref`; a missing or malformed name is not counted."""
        if ref is None or not PROXY_REF_PATTERN.fullmatch(ref):
            return
        self._counts[ref] = self._counts.get(ref, 0) + 1
        self._counts.move_to_end(ref)
        if len(self._counts) > self._limit:
            self._counts.popitem(last=False)

    def of_proxy(self, ref: str | None) -> dict[str, int]:
        """The counts of every worker of the proxy `ref` belongs to."""
        if ref is None or not PROXY_REF_PATTERN.fullmatch(ref):
            return {}
        proxy = ref.partition(".")[0] + "."
        return {name: count for name, count in self._counts.items() if name.startswith(proxy)}

    def every(self) -> dict[str, int]:
        return dict(self._counts)


def format_seen(seen: Mapping[str, int]) -> str:
    return ",".join(f"{ref}={count}" for ref, count in seen.items())


def parse_seen(value: object) -> dict[str, int] | None:
    """`X-Substation-Seen` (`ref=count,...`) or the stream's mapping; None if absent or not
    one (the report is still taken, without counts)."""
    if value is None:  # the common case, before any (slow, abstract) isinstance check
        return None
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item]
        value = {ref: count for ref, _, count in pairs}
    if not isinstance(value, Mapping) or len(value) > MAX_REFS:
        return None
    seen: dict[str, int] = {}
    for ref, count in value.items():
        text = str(count)
        if not isinstance(ref, str) or not PROXY_REF_PATTERN.fullmatch(ref) or not text.isdigit():
            return None
        seen[ref] = int(text)
    return seen
