"""Each account's sender profile (the From name and address of its emails) and its two
signatures: one for the first email to a prospect, one for every email after that."""

from __future__ import annotations

from typing import Annotated

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account
from inbox.accounts.service import normalize_email
from inbox.conversations.rich_text import sanitize_html
from inbox.core.access import Actor, check_staff
from inbox.errors import NotFound, ValidationFailed

SignatureHtml = Annotated[str, msgspec.Meta(max_length=20_000)]


class SenderProfileRead(msgspec.Struct, kw_only=True):
    from_name: str
    from_email: str


class SenderProfileUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    from_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    from_email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]


class SignaturesRead(msgspec.Struct, kw_only=True):
    first_contact: str
    reply: str


class SignaturesUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    first_contact: SignatureHtml | msgspec.UnsetType = msgspec.UNSET
    reply: SignatureHtml | msgspec.UnsetType = msgspec.UNSET


async def _account(session: AsyncSession, actor: Actor) -> Account:
    check_staff(actor)
    account = await session.get(Account, actor.id)
    if account is None:
        raise NotFound("Your account no longer exists.")
    return account


async def get_sender_profile(session: AsyncSession, actor: Actor) -> SenderProfileRead:
    account = await _account(session, actor)
    return SenderProfileRead(from_name=account.from_name, from_email=account.from_email)


async def do_update_sender_profile(
    session: AsyncSession, actor: Actor, data: SenderProfileUpdate
) -> SenderProfileRead:
    """Change the actor's own From name and address."""
    account = await _account(session, actor)
    name = " ".join(data.from_name.split())
    if not name:
        raise ValidationFailed.field("from_name", "a From name is required")
    account.from_name = name
    account.from_email = normalize_email(data.from_email, "from_email")
    await session.flush()
    return SenderProfileRead(from_name=account.from_name, from_email=account.from_email)


async def get_signatures(session: AsyncSession, actor: Actor) -> SignaturesRead:
    account = await _account(session, actor)
    return SignaturesRead(first_contact=account.signature_first, reply=account.signature_reply)


async def do_update_signatures(
    session: AsyncSession, actor: Actor, data: SignaturesUpdate
) -> SignaturesRead:
    """Change the actor's signatures; rich text is sanitized like a message body."""
    account = await _account(session, actor)
    if isinstance(data.first_contact, str):
        account.signature_first = sanitize_html(data.first_contact)
    if isinstance(data.reply, str):
        account.signature_reply = sanitize_html(data.reply)
    await session.flush()
    return SignaturesRead(first_contact=account.signature_first, reply=account.signature_reply)
