"""Session ids that name their substation (`grid.session_ids`)."""

from __future__ import annotations

import re

from grid.ledger import SessionLedger
from grid.protocol import SESSION_ID_PATTERN, ChargeRequest
from grid.session_ids import from_before_tags, session_id_maker, substation_tag, tag_of

T0 = 1_800_000_000.0


def test_a_tag_is_eight_hex_digits_the_same_for_a_name_and_apart_for_others() -> None:
    names = ["north", "south", "substation1", "substation2", "ünder-the-bridge"]
    tags = [substation_tag(name) for name in names]
    assert all(re.fullmatch(r"[0-9a-f]{8}", tag) for tag in tags)
    assert len(set(tags)) == len(names)
    # BLAKE2s of the name: every process, every machine agrees (unlike `hash`).
    assert substation_tag("north") == "f9e9c806"


def test_new_ids_carry_the_tag_and_128_random_bits() -> None:
    new_id = session_id_maker("north")
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for session_id in ids:
        assert re.fullmatch(r"f9e9c806-[0-9a-f]{32}", session_id)
        assert SESSION_ID_PATTERN.fullmatch(session_id)  # the proxy passes them on
        assert tag_of(session_id) == "f9e9c806"


def test_ids_without_a_tag() -> None:
    before_tags = "0f" * 16
    assert tag_of(before_tags) is None and from_before_tags(before_tags)
    for other in ["s1", "f9e9c806-", "F9E9C806-" + "0" * 32, "f9e9c806-" + "0" * 31, "0" * 33]:
        assert tag_of(other) is None and not from_before_tags(other)


def test_a_ledger_names_its_sessions_after_its_substation() -> None:
    ledger = SessionLedger("north", 100.0, 60.0)
    session = ledger.admit(ChargeRequest("EV-1", 11.0, 11.0), T0).session
    assert tag_of(session.session_id) == substation_tag("north")
