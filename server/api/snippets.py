"""Shared snippets (canned replies) and their rendering for a prospect."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from inbox.snippets.service import (
    RenderedSnippet,
    SnippetCreate,
    SnippetRead,
    SnippetRender,
    SnippetUpdate,
    do_create_snippet,
    do_delete_snippet,
    do_render_snippet,
    do_update_snippet,
    list_snippets,
)
from server.api.params import Id


class SnippetController(Controller):
    path = "/snippets"
    tags = ["snippets"]

    @get("/")
    async def list_(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[SnippetRead]:
        return await list_snippets(session, actor)

    @post("/")
    async def create(
        self,
        data: JSONBody[SnippetCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> SnippetRead:
        """Merge fields: {first_name} {last_name} {product} {my_name}."""
        return await do_create_snippet(session, actor, data)

    @patch("/{snippet_id:int}")
    async def update(
        self,
        snippet_id: FromPath[Id],
        data: JSONBody[SnippetUpdate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> SnippetRead:
        return await do_update_snippet(session, actor, snippet_id, data)

    @delete("/{snippet_id:int}")
    async def remove(
        self,
        snippet_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> None:
        """Only the snippet's author or an admin may delete it."""
        await do_delete_snippet(session, actor, snippet_id)

    @post("/{snippet_id:int}/render", status_code=200)
    async def render(
        self,
        snippet_id: FromPath[Id],
        data: JSONBody[SnippetRender],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> RenderedSnippet:
        """The snippet filled in for a prospect, as text and escaped HTML, naming empty fields."""
        return await do_render_snippet(session, actor, snippet_id, data.prospect_id)
