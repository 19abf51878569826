"""In headless Chromium: the login page opened at another address than INBOX_PUBLIC_URL says so
(and links to the right one) instead of failing the sign-in with a bare refusal."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.support.browser import DANA, DANA_PASSWORD, Problems, serve

TIMEOUT_MS = 10_000


async def test_the_login_page_names_the_configured_address(browser: Any) -> None:
    from playwright.async_api import expect

    async with serve(None, None) as app:
        elsewhere = f"http://localhost:{urlsplit(app.url).port}"
        page = await browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems = Problems(page)

        await page.goto(f"{elsewhere}/login")
        note = page.locator("#login-address")
        await expect(note).to_be_visible()
        await expect(note).to_contain_text(
            f"This address ({elsewhere}) is not the configured public URL."
        )
        link = note.get_by_role("link", name=app.url)
        await expect(link).to_have_attribute("href", f"{app.url}/login")

        # Signing in anyway is refused, and the refusal says why.
        await page.get_by_label("Email").fill(DANA)
        await page.get_by_label("Password").fill(DANA_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text(
            f"This address ({elsewhere}) is not the configured public URL ({app.url})"
        )
        await expect(alert).not_to_contain_text("Cross-origin")

        # The link leads to the configured address, where there is nothing to say.
        await link.click()
        await expect(page).to_have_url(f"{app.url}/login")
        await expect(page.locator("#login-address")).to_be_hidden()
        await page.get_by_label("Email").fill(DANA)
        await page.get_by_label("Password").fill(DANA_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{app.url}/")
        # The refused sign-in's 403 is a failed load the console reports; nothing else.
        assert [p for p in problems.items if "403" not in p] == []
        await page.close()
