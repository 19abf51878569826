"""The web app in headless Chromium: how many bytes the app shell takes, and how fast a
conversation of 1,000 messages opens.

    python bench/web.py                 # about 20 s; rewrites the figures in bench/README.md
    python bench/web.py --opens 50 --no-readme

The seeded demo app runs under uvicorn on loopback (email to the sandbox log). Chromium (at
/usr/bin/chromium, headless) signs in as the demo's Dana and records every response of the
first load (HTML, modules, styles, icon), then opens every lazily loaded view and dialog so the
whole app has been fetched, and compares the bytes with the budget of 150,000 (the issue's
"150 KB", read as decimal kilobytes). A conversation of 1,000 messages (half email with HTML,
half SMS, both directions) is written straight into the database; the page then opens it from
the list again and again. Each open is timed in the page: `total` from setting the address to the first frame
painted after the thread is drawn, `render` from the moment its JSON arrived (the thread sets a
performance mark there) to that frame.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import (  # noqa: E402
    OPEN_AND_TIME,
    Api,
    chromium,
    seed_messages,
    serve,
    signed_in_page,
)

README = ROOT / "bench" / "README.md"
START, END = "<!-- web-figures:start -->", "<!-- web-figures:end -->"
MESSAGES = 1000
BUDGET = 150_000  # bytes: "under 150 KB uncompressed", read as decimal kilobytes


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def shell_bytes(page: Any, url: str) -> tuple[int, int, int]:
    sizes: dict[str, int] = {}

    async def count(response: Any) -> None:
        if response.request.resource_type in ("document", "script", "stylesheet", "image"):
            sizes[response.url] = len(await response.body())

    page.on("response", count)
    await page.goto(f"{url}/#/all")
    await page.wait_for_selector("a.conversation")
    await page.wait_for_load_state("networkidle")
    first = sum(sizes.values())
    for view, element in (("search", "search"), ("tasks", "task"), ("dashboard", "dashboard")):
        await page.goto(f"{url}/#/{view}")
        await page.wait_for_selector(f"{element}-view:not([hidden])")
    await page.goto(f"{url}/#/all")
    await page.click("#new-conversation")
    await page.wait_for_selector("dialog[open]")
    await page.keyboard.press("Escape")
    await page.click("#queue-new")
    await page.wait_for_selector("dialog.queue-dialog[open]")
    await page.keyboard.press("Escape")
    await page.wait_for_load_state("networkidle")
    page.remove_listener("response", count)
    return first, sum(sizes.values()), len(sizes)


async def run(opens: int) -> str:
    async with serve(None, None) as app, chromium() as browser:
        api = await Api(app.url).sign_in()
        prospect = await api.call(
            "POST", "/api/prospects", {"first_name": "Long", "emails": ["long@example.com"]}
        )
        await api.close()
        await seed_messages(app, prospect["conversation_id"], MESSAGES)
        page = await signed_in_page(browser, app)
        first, total, files = await shell_bytes(page, app.url)
        timings = []
        for _ in range(opens + 1):
            await page.goto(f"{app.url}/#/all")
            await page.wait_for_selector("a.conversation")
            timings.append(await page.evaluate(OPEN_AND_TIME, prospect["conversation_id"]))
        timings = timings[1:]  # the first open warms the caches
        await page.context.close()
    render = [t["render"] for t in timings]
    whole = [t["total"] for t in timings]
    chromium_version = browser.version if hasattr(browser, "version") else "?"
    lines = [
        f"Measured on {platform.machine()} ({platform.python_version()}, Chromium "
        f"{chromium_version}), {opens} opens:",
        "",
        "| figure | value |",
        "|---|---|",
        f"| app shell, first load (uncompressed) | {first:,} bytes |",
        f"| every module and style, {files} files (uncompressed) | {total:,} bytes "
        f"({'under' if total < BUDGET else 'OVER'} the {BUDGET:,}-byte budget) |",
        f"| open 1,000 messages: render p50 / p95 / max | {statistics.median(render):.0f} / "
        f"{percentile(render, 95):.0f} / {max(render):.0f} ms |",
        f"| open 1,000 messages: fetch + render p50 / p95 | {statistics.median(whole):.0f} / "
        f"{percentile(whole, 95):.0f} ms |",
        f"| messages drawn at open | {timings[0]['messages']} (older ones on request) |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opens", type=int, default=20)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(run(args.opens))
    print(figures)
    if not args.no_readme:
        text = README.read_text()
        if START in text:
            head, rest = text.split(START, 1)
            text = head + START + "\n" + figures + "\n" + END + rest.split(END, 1)[1]
            README.write_text(text)


if __name__ == "__main__":
    main()
