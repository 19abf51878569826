"""The signed-in account's notifications."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from inbox.notifications.schemas import NotificationRead
from inbox.notifications.service import count_unread, do_mark_notification_read, list_notifications
from server.api.params import Id


class NotificationList(msgspec.Struct, kw_only=True):
    items: list[NotificationRead]
    unread_count: int


class NotificationController(Controller):
    path = "/notifications"
    tags = ["notifications"]

    @get("/")
    async def list_(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        unread: FromQuery[bool] = False,
    ) -> NotificationList:
        """Newest first, with the unread count for the bell."""
        items = await list_notifications(session, actor, unread_only=unread)
        return NotificationList(items=items, unread_count=await count_unread(session, actor))

    @post("/{notification_id:int}/read", status_code=200)
    async def read(
        self,
        notification_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> NotificationRead:
        return await do_mark_notification_read(session, actor, notification_id)
