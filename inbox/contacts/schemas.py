"""The contacts values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from inbox.contacts.models import PhoneKind, ProspectKind
from inbox.core.schemas import Email, Input, Name, Short


class PhoneInput(Input):
    kind: PhoneKind
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class ProspectCreate(Input):
    first_name: Name = ""
    last_name: Name = ""
    emails: list[Email] = []
    phones: list[PhoneInput] = []
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] = ""
    product_of_interest: Short = ""
    kind: ProspectKind = ProspectKind.PROSPECT


class ProspectUpdate(Input):
    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET
    emails: list[Email] | msgspec.UnsetType = msgspec.UNSET
    phones: list[PhoneInput] | msgspec.UnsetType = msgspec.UNSET
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    product_of_interest: Short | msgspec.UnsetType = msgspec.UNSET
    kind: ProspectKind | msgspec.UnsetType = msgspec.UNSET


class PhoneRead(msgspec.Struct, kw_only=True):
    kind: PhoneKind
    e164: str


class ProspectRead(msgspec.Struct, kw_only=True):
    id: int
    first_name: str
    last_name: str
    name: str
    emails: list[str]
    phones: list[PhoneRead]
    postal_code: str
    product_of_interest: str
    kind: ProspectKind
    conversation_id: int
    created_at: datetime
    # Tasks not yet complete; links to the task grid filtered to this prospect.
    open_task_count: int = 0
