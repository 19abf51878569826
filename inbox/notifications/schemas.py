"""The notifications values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class NotificationRead(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    body: str
    conversation_id: int | None
    message_id: int | None
    read: bool
    created_at: datetime
