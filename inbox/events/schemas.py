"""The events values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class EventRead(msgspec.Struct, kw_only=True):
    seq: int
    type: str
    payload: dict[str, object]
    created_at: datetime
