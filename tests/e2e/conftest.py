"""Fixtures the browser tests share. Each test module defines its own `app` (what the server
runs with); `api` signs in to whichever app the module serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.browser import Api, App, chromium, screenshot, signed_in_page


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def api(app: App) -> AsyncIterator[Api]:
    client = await Api(app.url).sign_in()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def page(browser: Any, app: App, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A signed-in page that must end with no page problems (console errors, failed requests)."""
    opened = await signed_in_page(browser, app)
    try:
        yield opened
        assert opened.problems.items == []
    finally:
        # What the page looked like at the end, passed or failed, for whoever reads the run.
        await screenshot(opened, f"end-{request.node.name}")
        await opened.context.close()
