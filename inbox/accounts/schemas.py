"""The accounts values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from inbox.accounts.models import Role
from inbox.core.schemas import Email, Input, Short


class AccountCreate(Input):
    email: Email
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    role: Role
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    from_name: Short = ""
    from_email: Email | None = None


class AccountUpdate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    from_name: Short | msgspec.UnsetType = msgspec.UNSET
    from_email: Email | msgspec.UnsetType = msgspec.UNSET


class AccountRead(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    role: Role
    from_name: str
    from_email: str
    is_active: bool
    created_at: datetime
