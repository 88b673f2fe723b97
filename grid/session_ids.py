"""Session ids that say which substation holds them.

A session's id is made by its substation: `TTTTTTTT-` and 128 random bits in hex, where
`TTTTTTTT` is the substation's tag, the first 32 bits of the BLAKE2s hash of its name. The
random part is what makes the id a secret (an id stops its session); the tag is what lets any
proxy route `GET`/`DELETE /charge/{id}` to the owner without having seen the session booked:
a replica behind a load balancer, a proxy restarted, another worker. Before tags, such a
request went to every substation of the grid (a thousand in a city) until one had it.

Ids of the form before tags (32 hex digits: sessions kept across the upgrade in a substation's
state file) can still be held by any substation; no substation makes ids of any other form.
Pure: no I/O but the random bits of a new id.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable
from typing import Final

TAG_HEX_DIGITS: Final = 8
_TAGGED: Final = re.compile(r"([0-9a-f]{8})-[0-9a-f]{32}")
_UNTAGGED: Final = re.compile(r"[0-9a-f]{32}")


@functools.cache
def substation_tag(name: str) -> str:
    """The tag of the substation named `name`: 8 hex digits, the same in every process."""
    digest = hashlib.blake2s(name.encode("utf-8"), digest_size=TAG_HEX_DIGITS // 2)
    return digest.hexdigest()


def session_id_maker(substation: str) -> Callable[[], str]:
    """New session ids of the substation named `substation`: its tag, then 128 random bits
    from the system's CSPRNG (as `secrets.token_hex(16)` gives them, without its calls)."""
    prefix = substation_tag(substation) + "-"

    def new_session_id() -> str:
        return prefix + os.urandom(16).hex()

    return new_session_id


def tag_of(session_id: str) -> str | None:
    """The tag of the substation that made `session_id`; None if it carries none."""
    tagged = _TAGGED.fullmatch(session_id)
    return None if tagged is None else tagged.group(1)


def from_before_tags(session_id: str) -> bool:
    """Whether `session_id` has the form substations gave ids before tags (any may hold it)."""
    return _UNTAGGED.fullmatch(session_id) is not None
