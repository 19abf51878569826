"""Snippets: shared, editable by any contact manager, rendered for a prospect by plain
substitution that names empty fields, escapes HTML and never evaluates anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Role
from inbox.snippets.service import render
from tests.conftest import create_account
from tests.support.workflows import Api, api_for

Maker = async_sessionmaker[AsyncSession]
DANA, SAM, ROOT = "dana@oem.test", "sam@oem.test", "root@oem.test"


@pytest.fixture
async def api(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[Api]:
    await create_account(sessionmaker, DANA)
    await create_account(sessionmaker, SAM)
    await create_account(sessionmaker, ROOT, Role.ADMIN)
    async with api_for(db_url, tmp_path) as api:
        for who in (DANA, SAM, ROOT):
            await api.sign_in(who)
        yield api


async def snippet(api: Api, who: str, body: str, title: str = "Hello") -> int:
    created = await api.call(
        who, "POST", "/api/snippets", json={"title": title, "body": body}, expect=201
    )
    return int(created["id"])


async def rendered(api: Api, who: str, snippet_id: int, prospect_id: int) -> dict[str, object]:
    result: dict[str, object] = await api.call(
        who, "POST", f"/api/snippets/{snippet_id}/render", json={"prospect_id": prospect_id}
    )
    return result


async def test_render_fills_the_fields_and_names_the_empty_ones(api: Api) -> None:
    pat = await api.prospect(DANA, "Pat", "Lee", product_of_interest="Roadster 500")
    nameless = await api.prospect(DANA, "", "Nguyen")
    sid = await snippet(
        api, DANA, "Hi {first_name} {last_name},\nthe {product} is ready.\n{my_name}"
    )
    full = await rendered(api, SAM, sid, pat["id"])
    assert full["text"] == "Hi Pat Lee,\nthe Roadster 500 is ready.\nSam"
    assert full["html"] == "Hi Pat Lee,<br>\nthe Roadster 500 is ready.<br>\nSam"
    assert full["empty_fields"] == []
    partial = await rendered(api, DANA, sid, nameless["id"])
    assert partial["text"] == "Hi  Nguyen,\nthe  is ready.\nDana"
    assert partial["empty_fields"] == ["first_name", "product"]
    # A field the snippet does not use is never reported, empty or not.
    short = await snippet(api, DANA, "Thanks, {my_name}")
    assert (await rendered(api, DANA, short, nameless["id"]))["empty_fields"] == []
    await api.call(
        DANA, "POST", f"/api/snippets/{sid}/render", json={"prospect_id": 999}, expect=404
    )
    await api.call(
        DANA, "POST", "/api/snippets/999/render", json={"prospect_id": pat["id"]}, expect=404
    )


async def test_hostile_values_and_templates_stay_inert_text(api: Api) -> None:
    evil = await api.prospect(
        DANA,
        "<script>alert(1)</script>",
        "{first_name}{{last_name}}",
        product_of_interest="{my_name.__class__.__mro__} & <b>",
    )
    sid = await snippet(
        api,
        DANA,
        "{first_name.__class__} {{first_name}} {0} {last_name!r} {product:>10} <i>{first_name}</i> "
        "{__import__('os')} {product}",
    )
    out = await rendered(api, DANA, sid, evil["id"])
    assert out["text"] == (
        "{first_name.__class__} {<script>alert(1)</script>} {0} {last_name!r} {product:>10} "
        "<i><script>alert(1)</script></i> {__import__('os')} {my_name.__class__.__mro__} & <b>"
    )
    assert out["html"] == (
        "{first_name.__class__} {&lt;script&gt;alert(1)&lt;/script&gt;} {0} {last_name!r} "
        "{product:&gt;10} &lt;i&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/i&gt; "
        "{__import__(&#x27;os&#x27;)} {my_name.__class__.__mro__} &amp; &lt;b&gt;"
    )
    assert out["empty_fields"] == []
    # The values are never scanned for tokens: a last name of braces comes out as it is.
    last = await snippet(api, DANA, "{last_name}")
    assert (await rendered(api, DANA, last, evil["id"]))["text"] == "{first_name}{{last_name}}"


def test_render_is_a_single_pass_of_known_tokens() -> None:
    text, html, empty = render("{first_name}{my_name}", {"first_name": "{my_name}", "my_name": "x"})
    assert (text, html, empty) == ("{my_name}x", "{my_name}x", [])
    assert render("{ first_name }", {"first_name": "Pat"})[0] == "{ first_name }"
    assert render("{product}", {"product": "  "})[2] == ["product"]


async def test_snippets_are_shared_and_only_the_author_or_an_admin_deletes(api: Api) -> None:
    sid = await snippet(api, DANA, "Hi {first_name}", title="Greeting")
    other = await snippet(api, SAM, "Bye", title="a farewell")
    assert [s["title"] for s in await api.call(SAM, "GET", "/api/snippets")] == [
        "a farewell",
        "Greeting",
    ]
    edited = await api.call(
        SAM, "PATCH", f"/api/snippets/{sid}", json={"body": "Hello {first_name}"}
    )
    assert (edited["body"], edited["created_by_id"], edited["updated_by_id"]) == (
        "Hello {first_name}",
        1,
        2,
    )
    problem = await api.call(SAM, "DELETE", f"/api/snippets/{sid}", expect=403)
    assert problem["code"] == "permission_denied"
    assert len(await api.call(DANA, "GET", "/api/snippets")) == 2
    await api.call(SAM, "DELETE", f"/api/snippets/{other}", expect=204)
    await api.call(ROOT, "DELETE", f"/api/snippets/{sid}", expect=204)
    assert await api.call(DANA, "GET", "/api/snippets") == []
    for body, field in [
        ({"title": "", "body": "x"}, "title"),
        ({"title": "   ", "body": "x"}, "title"),
        ({"title": "t", "body": ""}, "body"),
        ({"title": "t", "body": "x", "shared": False}, "shared"),
    ]:
        problem = await api.call(DANA, "POST", "/api/snippets", json=body, expect=400)
        assert problem["errors"][0]["field"] == field
