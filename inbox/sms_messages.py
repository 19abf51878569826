"""The SMS part of an outbound message: the number to text."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.errors import Unprocessable
from inbox.messages import SendContext
from inbox.models import Account, Conversation, Message, PhoneKind, Prospect
from inbox.schemas import MessageCreate


def sms_recipient(prospect: Prospect) -> str:
    mobile = next((p.e164 for p in prospect.phones if p.kind is PhoneKind.MOBILE), None)
    if mobile is None:
        raise Unprocessable(
            "This prospect has no mobile number to text.", extra={"field": "channel"}
        )
    return mobile


async def draft_sms(
    session: AsyncSession,
    message: Message,
    data: MessageCreate,
    *,
    prospect: Prospect,
    sender: Account,
    conversation: Conversation,
    context: SendContext,
) -> str:
    """Fill the SMS fields of `message`; a random key makes delivery idempotent."""
    message.recipients = {"to": [sms_recipient(prospect)], "cc": [], "bcc": []}
    return f"sms-{uuid.uuid4().hex}"
