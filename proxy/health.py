"""Health of one substation as the proxy sees it: a small state machine, transitions as data.

Active checks (the poll) and passive ones (what happens while forwarding) feed the same
table. A refused connection takes a substation out at once; it comes back only after two good
checks in a row (down -> recovering -> healthy), a poll or an answer to a charge, so one lucky
check of a flapping substation does not send it traffic. A timeout or one failed poll only
makes it suspect: still used, since a busy substation is slow before it is dead, but a second
failure takes it out.
"""

from __future__ import annotations

from typing import Literal

HealthState = Literal["healthy", "suspect", "down", "recovering"]
# "answered": an HTTP answer to a charge or session request, as good a check as a poll.
# "streamed": a report on the load stream: the process is up, but it says nothing of how fast
# charges are answered, so it brings back a substation taken out but does not clear a suspect.
HealthEvent = Literal["poll_ok", "answered", "streamed", "poll_failed", "refused", "timed_out"]

TRANSITIONS: dict[HealthState, dict[HealthEvent, HealthState]] = {
    "healthy": {
        "poll_ok": "healthy",
        "answered": "healthy",
        "streamed": "healthy",
        "poll_failed": "suspect",
        "timed_out": "suspect",
        "refused": "down",
    },
    "suspect": {
        "poll_ok": "healthy",
        "answered": "healthy",
        "streamed": "suspect",
        "poll_failed": "down",
        "timed_out": "down",
        "refused": "down",
    },
    "down": {
        "poll_ok": "recovering",
        "answered": "recovering",
        "streamed": "recovering",
        "poll_failed": "down",
        "timed_out": "down",
        "refused": "down",
    },
    "recovering": {
        "poll_ok": "healthy",
        "answered": "healthy",
        "streamed": "healthy",
        "poll_failed": "down",
        "timed_out": "down",
        "refused": "down",
    },
}

# The states in which a substation is sent new charges.
SERVING: frozenset[HealthState] = frozenset({"healthy", "suspect"})


def next_health(state: HealthState, event: HealthEvent) -> HealthState:
    return TRANSITIONS[state][event]
