"""Snippets: shared canned replies with merge fields, rendered for one prospect.

Rendering is plain substitution of a fixed set of `{field}` tokens in one pass: no format
strings, no attribute access, no templates, so a snippet or a prospect's name can never run
code or pull in other fields. Anything else in braces stays as written.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Annotated

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account
from inbox.contacts.models import Prospect
from inbox.core.access import Actor, check_staff
from inbox.core.model import utcnow
from inbox.core.schemas import Input
from inbox.errors import NotFound, PermissionDenied, ValidationFailed
from inbox.snippets.models import Snippet

MERGE_FIELDS = ("first_name", "last_name", "product", "my_name")
_TOKEN = re.compile(r"\{(" + "|".join(MERGE_FIELDS) + r")\}")

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class SnippetCreate(Input):
    title: Title
    body: Body


class SnippetUpdate(Input):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    body: Body | msgspec.UnsetType = msgspec.UNSET


class SnippetRead(msgspec.Struct, kw_only=True):
    id: int
    title: str
    body: str
    created_by_id: int | None
    updated_by_id: int | None
    created_at: datetime
    updated_at: datetime


class SnippetRender(Input):
    prospect_id: int


class RenderedSnippet(msgspec.Struct, kw_only=True):
    """`text` for an SMS or a plain-text body; `html` (escaped, line breaks as <br>) for the
    email body. `empty_fields` are merge fields the snippet uses that had no value."""

    snippet_id: int
    prospect_id: int
    text: str
    html: str
    empty_fields: list[str]


def snippet_read(snippet: Snippet) -> SnippetRead:
    return SnippetRead(
        id=snippet.id,
        title=snippet.title,
        body=snippet.body,
        created_by_id=snippet.created_by_id,
        updated_by_id=snippet.updated_by_id,
        created_at=snippet.created_at,
        updated_at=snippet.updated_at,
    )


def render(body: str, values: dict[str, str]) -> tuple[str, str, list[str]]:
    """(text, html, empty fields). Each known token is replaced once by its value; the values
    are never scanned again, so a value holding `{first_name}` or `<script>` stays inert text."""
    used = [name for name in MERGE_FIELDS if "{" + name + "}" in body]
    empty = [name for name in used if not values.get(name, "").strip()]
    text = _TOKEN.sub(lambda m: values.get(m.group(1), ""), body)
    # Escape the template and the values separately, then substitute: the same text, as HTML.
    escaped_values = {k: html.escape(v) for k, v in values.items()}
    as_html = _TOKEN.sub(lambda m: escaped_values.get(m.group(1), ""), html.escape(body))
    as_html = as_html.replace("\r\n", "\n").replace("\n", "<br>\n")
    return text, as_html, empty


async def list_snippets(session: AsyncSession, actor: Actor) -> list[SnippetRead]:
    """Every snippet, by title."""
    check_staff(actor)
    rows = await session.scalars(
        sa.select(Snippet).order_by(sa.func.lower(Snippet.title), Snippet.id)
    )
    return [snippet_read(s) for s in rows]


async def _load(session: AsyncSession, snippet_id: int) -> Snippet:
    snippet = await session.get(Snippet, snippet_id)
    if snippet is None:
        raise NotFound(f"No snippet {snippet_id}.")
    return snippet


def _check_title(title: str) -> str:
    if not title.strip():
        raise ValidationFailed.field("title", "must not be blank")
    return title.strip()


async def do_create_snippet(
    session: AsyncSession, actor: Actor, data: SnippetCreate
) -> SnippetRead:
    """Any contact manager may add a shared snippet."""
    check_staff(actor)
    now = utcnow()
    snippet = Snippet(
        title=_check_title(data.title),
        body=data.body,
        created_by_id=actor.id,
        updated_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(snippet)
    await session.flush()
    return snippet_read(snippet)


async def do_update_snippet(
    session: AsyncSession, actor: Actor, snippet_id: int, data: SnippetUpdate
) -> SnippetRead:
    """Any contact manager may edit any snippet: they are shared."""
    check_staff(actor)
    snippet = await _load(session, snippet_id)
    if not isinstance(data.title, msgspec.UnsetType):
        snippet.title = _check_title(data.title)
    if not isinstance(data.body, msgspec.UnsetType):
        snippet.body = data.body
    snippet.updated_by_id = actor.id
    snippet.updated_at = utcnow()
    await session.flush()
    return snippet_read(snippet)


async def do_delete_snippet(session: AsyncSession, actor: Actor, snippet_id: int) -> None:
    """Deleting takes a shared snippet away from everyone: only its author or an admin may."""
    check_staff(actor)
    snippet = await _load(session, snippet_id)
    if not actor.is_admin and snippet.created_by_id != actor.id:
        raise PermissionDenied("Only the snippet's author or an admin may delete it.")
    await session.delete(snippet)
    await session.flush()


async def do_render_snippet(
    session: AsyncSession, actor: Actor, snippet_id: int, prospect_id: int
) -> RenderedSnippet:
    """The snippet filled in for a prospect, as the actor would send it."""
    check_staff(actor)
    snippet = await _load(session, snippet_id)
    prospect = await session.get(Prospect, prospect_id)
    if prospect is None:
        raise NotFound(f"No prospect {prospect_id}.")
    me = await session.get(Account, actor.id)
    values = {
        "first_name": prospect.first_name,
        "last_name": prospect.last_name,
        "product": prospect.product_of_interest,
        "my_name": (me.from_name or me.name) if me is not None else actor.name,
    }
    text, as_html, empty = render(snippet.body, values)
    return RenderedSnippet(
        snippet_id=snippet.id, prospect_id=prospect.id, text=text, html=as_html, empty_fields=empty
    )
