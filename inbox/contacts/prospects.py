"""Prospects: create, update, find by name, email or any phone. Each has one conversation."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.service import normalize_email
from inbox.contacts.models import PhoneKind, Prospect, ProspectEmail, ProspectPhone
from inbox.contacts.phones import parse_phone, try_parse_phone
from inbox.contacts.schemas import (
    PhoneInput,
    PhoneRead,
    ProspectCreate,
    ProspectRead,
    ProspectUpdate,
)
from inbox.conversations.models import Conversation
from inbox.core.access import Actor, check_staff
from inbox.core.model import utcnow
from inbox.errors import NotFound, ValidationFailed
from inbox.tasks.service import count_open_tasks


def display_name(prospect: Prospect) -> str:
    name = f"{prospect.first_name} {prospect.last_name}".strip()
    if name:
        return name
    return prospect.emails[0].email if prospect.emails else f"Prospect {prospect.id}"


def prospect_read(prospect: Prospect, conversation_id: int, *, open_tasks: int = 0) -> ProspectRead:
    return ProspectRead(
        id=prospect.id,
        first_name=prospect.first_name,
        last_name=prospect.last_name,
        name=display_name(prospect),
        emails=[e.email for e in prospect.emails],
        phones=[PhoneRead(kind=p.kind, e164=p.e164) for p in prospect.phones],
        postal_code=prospect.postal_code,
        product_of_interest=prospect.product_of_interest,
        kind=prospect.kind,
        conversation_id=conversation_id,
        created_at=prospect.created_at,
        open_task_count=open_tasks,
    )


def _clean_emails(emails: list[str]) -> list[str]:
    cleaned: list[str] = []
    for i, raw in enumerate(emails):
        address = normalize_email(raw, f"emails[{i}]")
        if address not in cleaned:
            cleaned.append(address)
    return cleaned


def _clean_phones(phones: list[PhoneInput], region: str) -> list[tuple[PhoneKind, str]]:
    seen: set[PhoneKind] = set()
    cleaned: list[tuple[PhoneKind, str]] = []
    for i, phone in enumerate(phones):
        if phone.kind in seen:
            raise ValidationFailed.field(f"phones[{i}].kind", f"more than one {phone.kind} phone")
        seen.add(phone.kind)
        cleaned.append((phone.kind, parse_phone(phone.number, region, f"phones[{i}].number")))
    return cleaned


def _require_identity(prospect: Prospect) -> None:
    if not (prospect.first_name or prospect.last_name or prospect.emails or prospect.phones):
        raise ValidationFailed.field("last_name", "give a name, an email or a phone")


async def do_create_prospect(
    session: AsyncSession, actor: Actor, data: ProspectCreate, *, region: str
) -> ProspectRead:
    """Create a prospect and its (empty) conversation."""
    check_staff(actor)
    emails = _clean_emails(data.emails)
    phones = _clean_phones(data.phones, region)
    prospect = Prospect(
        first_name=data.first_name.strip(),
        last_name=data.last_name.strip(),
        postal_code=data.postal_code.strip(),
        product_of_interest=data.product_of_interest.strip(),
        kind=data.kind,
        emails=[ProspectEmail(email=e, position=i) for i, e in enumerate(emails)],
        phones=[ProspectPhone(kind=k, e164=n, position=i) for i, (k, n) in enumerate(phones)],
    )
    _require_identity(prospect)
    session.add(prospect)
    await session.flush()
    conversation = Conversation(prospect_id=prospect.id, last_activity_at=prospect.created_at)
    session.add(conversation)
    await session.flush()
    return prospect_read(prospect, conversation.id)


async def _load(session: AsyncSession, prospect_id: int) -> tuple[Prospect, int]:
    row = (
        await session.execute(
            sa.select(Prospect, Conversation.id)
            .join(Conversation, Conversation.prospect_id == Prospect.id)
            .where(Prospect.id == prospect_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No prospect {prospect_id}.")
    return row[0], row[1]


async def get_prospect(session: AsyncSession, actor: Actor, prospect_id: int) -> ProspectRead:
    check_staff(actor)
    prospect, conversation_id = await _load(session, prospect_id)
    open_tasks = await count_open_tasks(session, [prospect_id])
    return prospect_read(prospect, conversation_id, open_tasks=open_tasks.get(prospect_id, 0))


async def do_update_prospect(
    session: AsyncSession, actor: Actor, prospect_id: int, data: ProspectUpdate, *, region: str
) -> ProspectRead:
    check_staff(actor)
    prospect, conversation_id = await _load(session, prospect_id)
    for name in ("first_name", "last_name", "postal_code", "product_of_interest", "kind"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            setattr(prospect, name, value.strip() if isinstance(value, str) else value)
    if not isinstance(data.emails, msgspec.UnsetType):
        emails = _clean_emails(data.emails)
        prospect.emails.clear()
        await session.flush()
        prospect.emails.extend(ProspectEmail(email=e, position=i) for i, e in enumerate(emails))
    if not isinstance(data.phones, msgspec.UnsetType):
        phones = _clean_phones(data.phones, region)
        prospect.phones.clear()
        await session.flush()
        prospect.phones.extend(
            ProspectPhone(kind=k, e164=n, position=i) for i, (k, n) in enumerate(phones)
        )
    _require_identity(prospect)
    prospect.updated_at = utcnow()
    await session.flush()
    open_tasks = await count_open_tasks(session, [prospect_id])
    return prospect_read(prospect, conversation_id, open_tasks=open_tasks.get(prospect_id, 0))


def _search_condition(query: str, region: str) -> sa.ColumnElement[bool]:
    text = query.strip()
    phone = try_parse_phone(text, region) if any(c.isdigit() for c in text) else None
    if phone:
        return Prospect.id.in_(
            sa.select(ProspectPhone.prospect_id).where(ProspectPhone.e164 == phone)
        )
    if "@" in text:
        return Prospect.id.in_(
            sa.select(ProspectEmail.prospect_id).where(ProspectEmail.email == text.lower())
        )
    conditions = []
    for word in text.lower().split()[:4]:
        pattern = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            sa.or_(
                sa.func.lower(Prospect.first_name).like(pattern, escape="\\"),
                sa.func.lower(Prospect.last_name).like(pattern, escape="\\"),
            )
        )
    return sa.and_(*conditions) if conditions else sa.false()


async def find_prospects(
    session: AsyncSession, actor: Actor, query: str, *, region: str, limit: int = 20
) -> list[ProspectRead]:
    """Prospects matching a name (each word a prefix of first or last name), an email, or any
    of their phones typed in any format."""
    check_staff(actor)
    rows = await session.execute(
        sa.select(Prospect, Conversation.id)
        .join(Conversation, Conversation.prospect_id == Prospect.id)
        .where(_search_condition(query, region))
        .order_by(Prospect.last_name, Prospect.first_name, Prospect.id)
        .limit(limit)
    )
    found = rows.all()
    open_tasks = await count_open_tasks(session, [p.id for p, _ in found])
    return [prospect_read(p, cid, open_tasks=open_tasks.get(p.id, 0)) for p, cid in found]


async def find_prospect_by_address(session: AsyncSession, address: str) -> int | None:
    """The prospect owning an email address, for threading inbound mail."""
    return await session.scalar(
        sa.select(ProspectEmail.prospect_id)
        .where(ProspectEmail.email == address.strip().lower())
        .order_by(ProspectEmail.prospect_id)
        .limit(1)
    )


def _split_name(name: str) -> tuple[str, str]:
    """'Pat Example' and 'Example, Pat' -> ('Pat', 'Example'); an address is no name."""
    cleaned = " ".join(name.replace('"', "").split())
    if not cleaned or "@" in cleaned:
        return "", ""
    if "," in cleaned:
        last, _, first = cleaned.partition(",")
        return first.strip()[:100], last.strip()[:100]
    first, _, last = cleaned.rpartition(" ")
    return (first[:100], last[:100]) if first else (last[:100], "")


async def do_create_prospect_from_email(session: AsyncSession, address: str, name: str = "") -> int:
    """A prospect for someone who wrote in first, named as their mail client names them, with
    their conversation; returns the conversation id."""
    first, last = _split_name(name)
    prospect = Prospect(
        first_name=first,
        last_name=last,
        emails=[ProspectEmail(email=address.strip().lower(), position=0)],
        phones=[],
    )
    session.add(prospect)
    await session.flush()
    conversation = Conversation(prospect_id=prospect.id, last_activity_at=prospect.created_at)
    session.add(conversation)
    await session.flush()
    return conversation.id
