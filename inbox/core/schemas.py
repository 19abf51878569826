"""The core values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

import msgspec

T = TypeVar("T")


Name = Annotated[str, msgspec.Meta(max_length=100)]


Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]


Short = Annotated[str, msgspec.Meta(max_length=200)]


# A time with its zone (Z or +02:00): a naive one cannot be stored as UTC.
Aware = Annotated[datetime, msgspec.Meta(tz=True)]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None
