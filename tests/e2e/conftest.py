"""Fixtures the browser tests share. Each test module defines its own `app` (what the server
runs with); `api` signs in to whichever app the module serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.browser import Api, App, chromium


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
