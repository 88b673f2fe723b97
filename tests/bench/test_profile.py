"""bench.profile's attribution of a sample to a part of the charge path (pure)."""

from __future__ import annotations

from bench.profile import part_of, shares

LOOP = "_run_until_stopped (grid/httpio.py:218)"
ENTRY = ["<module> (proxy/__main__.py:6)", "main (proxy/serve.py:42)", "serve (grid/httpio.py:209)"]
HANDLER = [
    *ENTRY,
    LOOP,
    "RequestHandler._handle_request (aiohttp/web_protocol.py:577)",
    "post_charge (proxy/relay.py:31)",
]


def test_a_sample_goes_to_the_innermost_frame_of_ours() -> None:
    choose = [*HANDLER, "ChargeAttempt.start (proxy/attempt.py:124)"]
    choose += ["Balancer.choose (proxy/balancer.py:210)", "rank (proxy/headroom.py:90)"]
    assert part_of(choose) == "balancer (choice)"
    outlook = [*choose, "evenness (proxy/headroom.py:229)", "Outlook.__init__ (proxy/outlook.py:5)"]
    assert part_of(outlook) == "balancer (choice)"
    assert part_of([*HANDLER, "Response.__init__ (aiohttp/web_response.py:600)"]) == (
        "handler (aiohttp calls made by post_charge)"
    )
    parse = [LOOP, "_Connection.data_received (proxy/pool.py:80)"]
    assert part_of([*parse, "_Connection.on_header (proxy/pool.py:95)"]) == (
        "answer parse (httptools callbacks)"
    )


def test_samples_without_our_code_are_aiohttps_or_the_loops() -> None:
    protocol = [*ENTRY, LOOP, "RequestHandler.data_received (aiohttp/web_protocol.py:400)"]
    assert part_of(protocol) == "aiohttp server (protocol, request parse, response write)"
    assert part_of([*ENTRY, LOOP]) == "event loop (uvloop) and the rest"


def test_collapsed_samples_are_counted_by_part() -> None:
    collapsed = f"{LOOP} 7\n{';'.join([*HANDLER, 'forwarded_headers (proxy/relay.py:53)'])} 3\n"
    assert shares(collapsed) == {
        "event loop (uvloop) and the rest": 7,
        "forwarded headers": 3,
    }
