"""The live grid page in real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.helpers import Grid, charge_body, require_tool

GridFactory = Callable[..., Awaitable[Grid]]
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
# As this machine's Chromium needs them: no sandbox as root, no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_grid_page_shows_a_bar_per_substation_that_grows_with_a_charge(
    start_grid: GridFactory,
) -> None:
    chromium = require_tool("chromium", "chromium")
    async_api = pytest.importorskip("playwright.async_api")
    grid = await start_grid([500, 500, 250])
    page_url = str(grid.proxy.make_url("/"))
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            await page.goto(page_url)
            await page.wait_for_function("document.querySelectorAll('.substation').length === 3")
            names = await page.locator(".substation .name").all_inner_texts()
            assert names == ["substation1", "substation2", "substation3"]
            assert await page.locator(".line80").count() == 3
            await grid.proxy.post("/charge", json=charge_body("EV-1", 100))
            await page.wait_for_function(
                "[...document.querySelectorAll('.substation')]"
                ".some(card => Number(card.dataset.loadKw) === 100)",
                timeout=5000,
            )
            width = await page.locator(".substation[data-load-kw='100'] .fill").evaluate(
                "fill => fill.style.width"
            )
            assert width in ("20%", "40%")  # 100 kW of 500 or of 250
            assert "100.0 of 1250 kW" in await page.locator("#total").inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "grid-page.png"), full_page=True)
        finally:
            await browser.close()


async def test_grid_page_is_served_self_contained(start_grid: GridFactory) -> None:
    grid = await start_grid([500])
    answer = await grid.proxy.get("/")
    assert answer.status == 200
    assert answer.content_type == "text/html"
    page = await answer.text()
    assert "/substations" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
