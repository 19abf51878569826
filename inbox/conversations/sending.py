"""Sending a message: the one entry point for email and SMS alike.

`messages.do_send_message` records any outbound message; the channel modules draft their part
of it (email: addresses, subject, signature, reply token; SMS: consent and number). This module
sits above both and picks the drafter, so that neither channel module and the shared one import
each other in a circle.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.attachments import AttachmentStore, do_add_attachment
from inbox.conversations.messages import Draft, SendContext, do_record_outbound
from inbox.conversations.models import Channel
from inbox.conversations.schemas import MessageCreate, MessageRead
from inbox.core.access import Actor
from inbox.email.messages import Upload, check_uploads, draft_email
from inbox.sms.messages import draft_sms


async def do_send_message(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    data: MessageCreate,
    *,
    context: SendContext,
) -> MessageRead:
    """Queue an email or a text to the conversation's prospect, in this transaction."""
    draft: Draft = draft_email if data.channel is Channel.EMAIL else draft_sms
    return await do_record_outbound(
        session, actor, conversation_id, data, context=context, draft=draft
    )


async def do_send_email_with_attachments(
    session: AsyncSession,
    store: AttachmentStore,
    actor: Actor,
    conversation_id: int,
    data: MessageCreate,
    uploads: Sequence[Upload],
    *,
    context: SendContext,
    max_bytes: int,
) -> MessageRead:
    """Queue a message with its files, in this transaction. Every check runs before a byte is
    stored, so a refused send leaves nothing behind."""
    check_uploads(data, uploads, max_bytes)
    read = await do_send_message(session, actor, conversation_id, data, context=context)
    for upload in uploads:
        read.attachments.append(
            await do_add_attachment(
                session, store, read.id, upload.filename, upload.content_type, upload.data
            )
        )
    return read
