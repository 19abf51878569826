"""Attachments: metadata in the database, bytes in a content-addressed store."""

from __future__ import annotations

import hashlib
from typing import Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.models import Attachment
from inbox.core.access import Actor, check_staff
from inbox.errors import NotFound


class AttachmentStore(Protocol):
    """Keeps attachment bytes; keys are whatever `put` returns."""

    async def put(self, data: bytes, sha256: str) -> str: ...

    async def get(self, key: str) -> bytes: ...


class AttachmentRead(msgspec.Struct, kw_only=True):
    id: int
    message_id: int
    filename: str
    content_type: str
    size: int


def attachment_read(a: Attachment) -> AttachmentRead:
    return AttachmentRead(
        id=a.id,
        message_id=a.message_id,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
    )


def safe_filename(name: str) -> str:
    """A display name without paths or control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>|:*?')
    return cleaned.strip(" .")[:200] or "attachment"


async def do_add_attachment(
    session: AsyncSession,
    store: AttachmentStore,
    message_id: int,
    filename: str,
    content_type: str,
    data: bytes,
) -> AttachmentRead:
    """Store the bytes and record the attachment on a message, in this transaction."""
    digest = hashlib.sha256(data).hexdigest()
    key = await store.put(data, digest)
    attachment = Attachment(
        message_id=message_id,
        filename=safe_filename(filename),
        content_type=content_type.lower()[:255] or "application/octet-stream",
        size=len(data),
        sha256=digest,
        storage_key=key,
    )
    session.add(attachment)
    await session.flush()
    return attachment_read(attachment)


async def list_attachments(
    session: AsyncSession, message_ids: list[int]
) -> dict[int, list[AttachmentRead]]:
    rows = await session.scalars(
        sa.select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
    )
    out: dict[int, list[AttachmentRead]] = {}
    for a in rows:
        out.setdefault(a.message_id, []).append(attachment_read(a))
    return out


async def get_attachment(
    session: AsyncSession, store: AttachmentStore, actor: Actor, attachment_id: int
) -> tuple[AttachmentRead, bytes]:
    check_staff(actor)
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(f"No attachment {attachment_id}.")
    return attachment_read(attachment), await store.get(attachment.storage_key)
