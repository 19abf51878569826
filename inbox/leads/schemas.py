"""The leads values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from inbox.core.schemas import Aware, Input, Short
from inbox.leads.models import FollowUpStatus, QualifyState


class LeadCreate(Input):
    lead_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    source: Annotated[str, msgspec.Meta(max_length=100)] = ""
    category: Annotated[str, msgspec.Meta(max_length=100)] = ""
    purchase_timeframe: Annotated[str, msgspec.Meta(max_length=100)] = ""
    dealer: Short = ""
    due_at: Aware | None = None


class LeadRead(msgspec.Struct, kw_only=True):
    id: int
    prospect_id: int
    lead_type: str
    source: str
    category: str
    purchase_timeframe: str
    follow_up_status: FollowUpStatus
    dealer: str
    qualify_state: QualifyState
    due_at: datetime | None
    created_at: datetime
