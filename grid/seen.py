"""How much a substation has been asked for by each proxy worker, for the load reports.

A load report a proxy worker takes (an answer, the load stream) may already hold some of its
requests still in flight, and of its sibling workers' (`--workers`, `proxy.siblings`): the
substation took them first, their answers are on their way. Counting them again, in the load
and in flight, steered charges away from the very substations that had just answered: a burst
spread over a round trip ended more than one request apart. So each charge a proxy worker
sends names it (`X-Proxy-Ref: <proxy>.<worker>`), a proxy of one worker's too, the substation
adds up the kW each asked of it (in whole watts, so that both ends' sums agree exactly), and its
load reports carry the sums (`X-Substation-Seen` for the workers of the asking proxy; every sum
on the load stream). A worker that sent W watts of requests there, of which the report has seen
S, has W - S of them in flight not held by it: exactly, whatever order they arrived in.

Pure: names and kW in, sums out. A substation keeps the `MAX_REFS` names it heard from last.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping

from multidict import istr

HEADER_PROXY_REF: str = istr("X-Proxy-Ref")  # istr: as `grid.protocol`'s header names
HEADER_SEEN: str = istr("X-Substation-Seen")
PROXY_REF_PATTERN = re.compile(r"[0-9a-f]{1,16}\.[0-9]{1,4}")
MAX_REFS = 64


@functools.lru_cache(maxsize=256)
def is_proxy_ref(ref: str) -> bool:
    """`ref` is in `X-Proxy-Ref`'s form. Every answer and every stream line names the same few
    workers again, so each name is matched once (the regular expression took about
    1,900 instructions a match, docs/performance.md)."""
    return PROXY_REF_PATTERN.fullmatch(ref) is not None


def new_proxy_name() -> str:
    """A name for one proxy process (its workers share it): random, as replicas know nothing
    of each other."""
    return secrets.token_hex(4)


def proxy_ref(proxy: str, worker: int) -> str:
    """What worker `worker` of proxy `proxy` names its charges (`X-Proxy-Ref`)."""
    return f"{proxy}.{worker}"


def watts(kw: float) -> int:
    """`kw` in whole watts: both ends round each charge's amount (the same number, from the
    same body) alike, so their sums agree exactly, where sums of floats would not."""
    return round(kw * 1000)


class ChargesSeen:
    """The watts asked of this substation by each proxy worker since its ledger began, in
    every charge it took (booked, repeated or refused)."""

    def __init__(self, limit: int = MAX_REFS) -> None:
        self._limit = limit
        self._asked_w: OrderedDict[str, int] = OrderedDict()

    def count(self, ref: str | None, amount_kw: float) -> None:
        """A charge for `amount_kw` taken from `ref`; a missing or malformed name is not
        counted."""
        if ref is None or not is_proxy_ref(ref):
            return
        self._asked_w[ref] = self._asked_w.get(ref, 0) + watts(amount_kw)
        self._asked_w.move_to_end(ref)
        if len(self._asked_w) > self._limit:
            self._asked_w.popitem(last=False)

    def of_proxy(self, ref: str | None) -> dict[str, int]:
        """The sums of every worker of the proxy `ref` belongs to."""
        if ref is None or not is_proxy_ref(ref):
            return {}
        proxy = ref.partition(".")[0] + "."
        return {name: count for name, count in self._asked_w.items() if name.startswith(proxy)}

    def every(self) -> dict[str, int]:
        return dict(self._asked_w)


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
    # A dict, as JSON and the header's pairs give: an abstract `Mapping` check is slow, and
    # every answer and stream line has its sums read (docs/performance.md).
    if type(value) is not dict or len(value) > MAX_REFS:
        return None
    seen: dict[str, int] = {}
    for ref, count in value.items():
        text = str(count)
        if type(ref) is not str or not is_proxy_ref(ref) or not text.isdigit():
            return None
        seen[ref] = int(text)
    return seen
