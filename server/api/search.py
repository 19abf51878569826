"""The message search grid and its CSV export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.models import Channel, Direction
from inbox.core.access import Actor
from inbox.core.schemas import Page
from inbox.search.export import check_export, stream_export
from inbox.search.service import PAGE_SIZES, MessageSearch, SearchHit, search_messages
from server.api.params import OptionalId
from server.services import Services

Text = Annotated[str, Parameter(max_length=200)]
Limit = Annotated[int, Parameter(ge=min(PAGE_SIZES), le=max(PAGE_SIZES))]


def provide_search(
    q: FromQuery[Text] = "",
    date_from: FromQuery[datetime | None] = None,
    date_to: FromQuery[datetime | None] = None,
    account_id: FromQuery[OptionalId] = None,
    channel: FromQuery[Channel | None] = None,
    direction: FromQuery[Direction | None] = None,
    first_name: FromQuery[Text] = "",
    last_name: FromQuery[Text] = "",
    email: FromQuery[Text] = "",
    home_phone: FromQuery[Text] = "",
    work_phone: FromQuery[Text] = "",
    mobile_phone: FromQuery[Text] = "",
) -> MessageSearch:
    """The grid's filters, read from the query string (the grid and its export share them)."""
    return MessageSearch(
        q=q,
        date_from=date_from,
        date_to=date_to,
        account_id=account_id,
        channel=channel,
        direction=direction,
        first_name=first_name,
        last_name=last_name,
        email=email,
        home_phone=home_phone,
        work_phone=work_phone,
        mobile_phone=mobile_phone,
    )


class SearchController(Controller):
    path = "/search"
    tags = ["search"]
    dependencies = {"search": Provide(provide_search, sync_to_thread=False)}

    @get("/")
    async def page(
        self,
        search: NamedDependency[MessageSearch],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[Limit] = 50,
    ) -> Page[SearchHit]:
        """Matching messages newest first; pass `next_cursor` back as `cursor` for more."""
        return await search_messages(
            session,
            actor,
            search,
            region=services.settings.phone_region,
            cursor=cursor,
            limit=limit,
        )

    @get("/export.csv", media_type="text/csv")
    async def export(
        self,
        search: NamedDependency[MessageSearch],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> Stream:
        """Every matching message as CSV (UTF-8 with BOM), streamed."""
        criteria = check_export(actor, search, region=services.settings.phone_region)

        async def body() -> AsyncIterator[bytes]:
            # Its own session: the stream outlives the request's transaction. Read-only, so a
            # long export never holds SQLite's write lock.
            async with services.reader() as session:
                async for chunk in stream_export(session, criteria):
                    yield chunk.encode("utf-8")

        return Stream(
            body(),
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to a text type
            headers={
                "Content-Disposition": 'attachment; filename="messages.csv"',
                "Cache-Control": "no-store",
            },
        )
