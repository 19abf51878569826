"""The web inbox's saved-view editor, the assignee picker, contrast, a narrow window and the
keyboard's Tab order, in headless Chromium against the real app (seeded demo data, email and
SMS to the sandbox log). One server serves the module; each test makes its own data."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.browser import SAM, SAM_PASSWORD, Api, App, screenshot, serve
from tests.support.browser import signed_in_page as _signed_in_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[App]:
    async with serve(None, None) as running:
        yield running


@pytest.fixture
async def pages(browser: Any, app: App, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Opens signed-in pages; each is checked for page errors and photographed at the end."""
    opened: list[Any] = []

    async def open_page(**kwargs: Any) -> Any:
        page = await _signed_in_page(browser, app, **kwargs)
        opened.append(page)
        return page

    try:
        yield open_page
        for page in opened:
            assert page.problems.items == []
    finally:
        for n, page in enumerate(opened):
            await screenshot(page, f"end-{request.node.name}-{n}")
            await page.context.close()


def tag() -> str:
    return uuid.uuid4().hex[:6]


async def new_prospect(api: Api, first: str, **fields: Any) -> Any:
    body = {"first_name": first, "last_name": f"Test{tag()}", **fields}
    return await api.call("POST", "/api/prospects", body)


async def live_page(pages: Any, app: App, address: str, **kwargs: Any) -> Any:
    from playwright.async_api import expect

    page = await pages(**kwargs)
    await page.goto(f"{app.url}/{address}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


async def test_a_saved_view_is_created_counted_live_edited_moved_and_deleted(
    pages: Any, app: App, api: Api
) -> None:
    from playwright.async_api import expect

    kind = f"Mower{tag()}"
    first = await new_prospect(api, "Vera")
    await api.call("POST", f"/api/prospects/{first['id']}/leads", {"lead_type": kind})
    await api.call("POST", "/api/queues", {"name": f"{kind} before"})
    page = await live_page(pages, app, "#/all")
    sidebar = page.locator("nav.sidebar")

    # Create: a lead-type filter, and first a date range the server refuses next to its field.
    await sidebar.get_by_role("button", name="New queue").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_label("Name").fill(f"{kind} leads")
    await dialog.get_by_label("Lead type", exact=False).fill(kind)
    await dialog.get_by_label("Not contacted").check()
    await dialog.get_by_label("Created from").fill("2026-03-01")
    await dialog.get_by_label("Created before").fill("2026-02-01")
    await screenshot(page, "queue-editor")
    await dialog.get_by_role("button", name="Save").click()
    error = dialog.locator('[id="queue-criteria.created_to-error"]')
    await expect(error).to_have_text("must be after created_from")
    await screenshot(page, "queue-editor-error")
    assert [q["name"] for q in await api.call("GET", "/api/queues")].count(f"{kind} leads") == 0
    await dialog.get_by_label("Created from").fill("")
    await dialog.get_by_label("Created before").fill("")
    await dialog.get_by_role("button", name="Save").click()
    await expect(page.locator("dialog.queue-dialog")).to_have_count(0)

    link = sidebar.get_by_role("link", name=re.compile(f"^{kind} leads"))
    await expect(link.locator(".count")).to_have_text("1")
    await link.click()
    await expect(page.locator("#list-title")).to_have_text(f"{kind} leads")
    await expect(page.locator("queue-list .lead-row")).to_have_count(1)

    # A lead that arrives elsewhere is counted without a reload.
    await page.evaluate("window.__noReload = true")
    second = await new_prospect(api, "Walt")
    await api.call("POST", f"/api/prospects/{second['id']}/leads", {"lead_type": kind})
    await expect(link.locator(".count")).to_have_text("2")
    await expect(page.locator("queue-list .lead-row")).to_have_count(2)

    # Edit: rename it and narrow the filter to a status no lead has; the open list follows.
    await sidebar.get_by_role("button", name=f"Edit queue {kind} leads").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog.get_by_label("Lead type", exact=False)).to_have_value(kind)
    await dialog.get_by_label("Name").fill(f"{kind} won")
    await dialog.get_by_label("Not contacted").uncheck()
    await dialog.get_by_label("Closed, won").check()
    await dialog.get_by_role("button", name="Save").click()
    renamed = sidebar.get_by_role("link", name=re.compile(f"^{kind} won"))
    await expect(renamed).to_have_attribute("aria-current", "page")
    await expect(renamed.locator(".count")).to_have_text("")
    await expect(page.locator("#list-title")).to_have_text(f"{kind} won")
    await expect(page.locator("queue-list .list-status")).to_have_text("This queue is empty.")

    # Move it above the queue before it (the last one cannot go further down).
    names = [q["name"] for q in await api.call("GET", "/api/queues")]
    assert names[-2:] == [f"{kind} before", f"{kind} won"]
    await sidebar.get_by_role("button", name=f"Edit queue {kind} won").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog.get_by_role("button", name="Move down")).to_be_disabled()
    await dialog.get_by_role("button", name="Move up").click()
    await expect(page.locator("dialog.queue-dialog")).to_have_count(0)
    links = sidebar.locator("#queue-links a")
    await expect(links.nth(len(names) - 2)).to_contain_text(f"{kind} won")
    assert [q["name"] for q in await api.call("GET", "/api/queues")] == [
        *names[:-2],
        names[-1],
        names[-2],
    ]

    # Delete asks twice, then the queue is gone and the inbox shows again.
    await sidebar.get_by_role("button", name=f"Edit queue {kind} won").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("button", name="Delete").click()
    await dialog.get_by_role("button", name="Really delete?").click()
    await expect(renamed).to_have_count(0)
    await expect(page.locator("#list-title")).to_have_text("All conversations")
    assert f"{kind} won" not in [q["name"] for q in await api.call("GET", "/api/queues")]
    assert await page.evaluate("window.__noReload") is True


async def test_assigning_a_conversation_changes_mine_for_the_assignee_live(
    pages: Any, app: App, api: Api
) -> None:
    from playwright.async_api import expect

    prospect = await new_prospect(api, "Ines")
    conversation_id = prospect["conversation_id"]
    sam_api = await Api(app.url).sign_in(SAM, SAM_PASSWORD)
    try:
        mine_before = (await sam_api.call("GET", "/api/conversations/counts"))["mine"]
    finally:
        await sam_api.close()

    dana = await live_page(pages, app, f"#/all/{conversation_id}")
    sam = await live_page(pages, app, f"#/mine/{conversation_id}", email=SAM, password=SAM_PASSWORD)
    await sam.evaluate("window.__noReload = true")
    sam_mine = sam.locator('[data-count="mine"]')
    await expect(sam_mine).to_have_text(str(mine_before or ""))
    sam_picker = sam.get_by_label("Assigned to")
    await expect(sam_picker).to_have_value("")

    picker = dana.get_by_label("Assigned to")
    await expect(picker.locator("option")).to_have_count(4)  # nobody + the three demo accounts
    await picker.select_option(label="Sam Ortega")
    await screenshot(dana, "assignee-picker")

    # Sam's tab: the Mine count, the Mine list and the open thread follow without a reload.
    await expect(sam_mine).to_have_text(str(mine_before + 1))
    await expect(sam.locator(f'conversation-list li[data-id="{conversation_id}"]')).to_have_count(1)
    await expect(sam_picker.locator("option:checked")).to_have_text("Sam Ortega")
    await screenshot(sam, "assignee-live")

    # And back to nobody, from Sam's side this time.
    await sam_picker.select_option(label="Unassigned")
    await expect(picker).to_have_value("")
    await expect(sam_mine).to_have_text(str(mine_before or ""))
    assert await sam.evaluate("window.__noReload") is True


# Every visible element with its own text: its color against the first opaque background up
# its ancestors (semi-transparent layers blended in), and the WCAG 2.x contrast ratio.
CONTRAST_AUDIT = """(rootSelector) => {
  const rgba = (value) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(value);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const background = (node) => {
    const layers = [];
    for (let at = node; at; at = at.parentElement) {
      const color = rgba(getComputedStyle(at).backgroundColor);
      if (color && color[3] > 0) {
        layers.push(color);
        if (color[3] >= 1) break;
      }
    }
    let result = [255, 255, 255];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      const c = v / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const root = document.querySelector(rootSelector);
  const failures = [];
  let checked = 0;
  for (const node of root.querySelectorAll("*")) {
    const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    const hint = node.placeholder && !node.value; // placeholder text is text too
    if (!(own || hint) || ["SCRIPT", "STYLE", "OPTION", "TITLE"].includes(node.tagName)) continue;
    if (!node.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const rect = node.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1 || node.closest(".visually-hidden")) continue;
    if (node.closest("[disabled], [aria-disabled=true]")) continue; // WCAG exempts disabled
    const style = getComputedStyle(node);
    const bg = background(node);
    const fg = rgba(hint ? getComputedStyle(node, "::placeholder").color : style.color);
    const text = over(fg, bg);
    const [hi, lo] = [luminance(text), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    checked += 1;
    const what = `${node.tagName.toLowerCase()}.${node.className} ${style.color} on ` +
      `rgb(${bg.map(Math.round).join(", ")}) = ${ratio.toFixed(2)}${hint ? " (placeholder)" : ""}`;
    if (ratio < (large ? 3 : 4.5) && !failures.some((f) => f.startsWith(what))) {
      failures.push(`${what} ("${(hint ? node.placeholder : node.textContent).trim().slice(0, 30)}")`);
    }
  }
  return { checked, failures };
}"""


async def test_text_contrast_on_the_main_screens(pages: Any, app: App, api: Api) -> None:
    from playwright.async_api import expect

    word = f"contrast{tag()}"
    prospect = await new_prospect(api, "Cora", emails=[f"cora.{tag()}@example.com"])
    conversation_id = prospect["conversation_id"]
    await api.call("POST", f"/api/prospects/{prospect['id']}/leads", {"lead_type": word})
    await api.call(
        "POST",
        f"/api/conversations/{conversation_id}/messages",
        {"channel": "email", "subject": f"About the {word}", "body_text": f"The {word} is here."},
    )
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    task = {"prospect_id": prospect["id"], "description": f"Call {word}", "due_at": due}
    await api.call("POST", "/api/tasks", task)
    page = await live_page(pages, app, f"#/all/{conversation_id}")
    await expect(page.locator("conversation-thread .message")).to_have_count(1)
    await expect(page.locator("prospect-panel")).to_contain_text(word)

    report: dict[str, Any] = {}
    report["inbox"] = await page.evaluate(CONTRAST_AUDIT, "body")
    await page.goto(f"{app.url}/#/search?q={word}")
    await expect(page.locator("search-view b").first).to_have_text(word)
    report["search"] = await page.evaluate(CONTRAST_AUDIT, "body")
    await page.goto(f"{app.url}/#/tasks")
    await expect(page.locator("task-view")).to_contain_text(f"Call {word}")
    report["tasks"] = await page.evaluate(CONTRAST_AUDIT, "body")
    await page.goto(f"{app.url}/#/dashboard")
    await expect(page.locator("dashboard-view section.card").first).to_be_visible()
    report["dashboard"] = await page.evaluate(CONTRAST_AUDIT, "body")
    await page.goto(f"{app.url}/#/all")
    await page.get_by_role("button", name="New queue").click()
    await expect(page.locator("dialog.queue-dialog")).to_be_visible()
    report["queue editor"] = await page.evaluate(CONTRAST_AUDIT, "dialog.queue-dialog")
    await screenshot(page, "queue-editor-new")

    # The audit itself: grey #888 on white (3.54:1) is caught, and the same at 24px passes.
    probe = """(size) => {
      const p = document.createElement("p");
      p.textContent = "probe";
      p.id = "probe";
      Object.assign(p.style, { color: "#888", background: "#fff", fontSize: size });
      document.body.append(p);
    }"""
    await page.evaluate(probe, "15px")
    caught = (await page.evaluate(CONTRAST_AUDIT, "body"))["failures"]
    assert [f for f in caught if "probe" in f] == [
        'p. rgb(136, 136, 136) on rgb(255, 255, 255) = 3.54 ("probe")'
    ]
    await page.evaluate("document.getElementById('probe').style.fontSize = '24px'")
    assert "probe" not in str((await page.evaluate(CONTRAST_AUDIT, "body"))["failures"])

    failures = [f"{screen}: {item}" for screen, r in report.items() for item in r["failures"]]
    assert failures == []
    for screen, r in report.items():
        assert r["checked"] >= 10, (screen, r)


async def test_a_narrow_window_opens_a_conversation_and_comes_back(
    pages: Any, app: App, api: Api
) -> None:
    from playwright.async_api import expect

    prospect = await new_prospect(api, "Nell", emails=[f"nell.{tag()}@example.com"])
    await api.call(
        "POST",
        f"/api/conversations/{prospect['conversation_id']}/messages",
        {"channel": "email", "subject": "Hello", "body_text": "A first word."},
    )
    page = await live_page(pages, app, "#/all", viewport={"width": 420, "height": 800})
    row = page.locator(f'conversation-list li[data-id="{prospect["conversation_id"]}"] a')
    await expect(row).to_be_visible()
    await row.click()
    heading = page.locator("#thread-heading")
    await expect(heading).to_be_visible()
    await expect(heading).to_contain_text("Nell")
    await expect(page.locator("conversation-list")).to_be_hidden()
    # The prospect panel opens as a drawer and closes again; the composer is in reach.
    await page.get_by_role("button", name="Details").click()
    await expect(page.locator("prospect-panel")).to_be_visible()
    await screenshot(page, "narrow-panel")
    await page.get_by_role("button", name="Close details").click()
    await expect(page.locator("prospect-panel")).to_be_hidden()
    await expect(page.locator("message-composer")).to_be_visible()
    for box in (heading, page.locator("message-composer")):
        bounds = await box.bounding_box()
        assert bounds is not None and bounds["x"] >= 0 and bounds["x"] + bounds["width"] <= 420
    await screenshot(page, "narrow-thread")
    await page.get_by_role("button", name="Back to conversations").click()
    await expect(row).to_be_visible()
    await expect(page.locator("conversation-thread")).to_be_hidden()


# Where the focus is: which region it is in, and whether it draws a visible indicator.
FOCUSED = """() => {
  const node = document.activeElement;
  const region = node.closest("message-composer") ? "composer"
    : node.closest("conversation-thread") ? "thread"
    : node.closest("conversation-list") ? "list" : "other";
  const style = getComputedStyle(node);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  const shadow = style.boxShadow !== "none";
  return { region, visible: outline || shadow, tag: node.tagName, text: node.textContent.slice(0, 20) };
}"""


async def test_tab_reaches_the_list_the_thread_and_the_composer_with_visible_focus(
    pages: Any, app: App, api: Api
) -> None:
    from playwright.async_api import expect

    prospect = await new_prospect(api, "Tess", emails=[f"tess.{tag()}@example.com"])
    page = await live_page(pages, app, f"#/all/{prospect['conversation_id']}")
    await expect(page.locator("#thread-heading")).to_be_visible()
    await page.locator("body").click(position={"x": 640, "y": 5})
    order: list[str] = []
    for _ in range(120):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUSED)
        if focused["region"] != "other" and focused["region"] not in order:
            assert focused["visible"], focused
            order.append(focused["region"])
            if focused["region"] == "list":
                await screenshot(page, "focus-list")
        if order == ["list", "thread", "composer"]:
            break
    assert order == ["list", "thread", "composer"]
    await screenshot(page, "focus-composer")
