"""Accounts: creation, roles, passwords (argon2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account, Role
from inbox.accounts.passwords import hash_password
from inbox.accounts.schemas import AccountCreate, AccountRead, AccountUpdate
from inbox.accounts.sessions import SessionsEnded, end_sessions
from inbox.core.access import Actor, check_admin, check_staff
from inbox.errors import Conflict, NotFound, ValidationFailed

# A deliberately simple shape check; real validation of an address is delivering to it.
_EMAIL = re.compile(r"^[^@\s<>,;:\"]+@[^@\s<>,;:\"]+\.[^@\s<>,;:\"]+$")


def normalize_email(value: str, field: str = "email") -> str:
    """Lower-case and check the shape of an address, or raise naming the field."""
    address = value.strip().lower()
    if not _EMAIL.match(address):
        raise ValidationFailed.field(field, f"{value!r} is not an email address")
    return address


def account_read(account: Account) -> AccountRead:
    return AccountRead(
        id=account.id,
        email=account.email,
        name=account.name,
        role=account.role,
        from_name=account.from_name,
        from_email=account.from_email,
        is_active=account.is_active,
        created_at=account.created_at,
    )


async def do_create_account(
    session: AsyncSession, actor: Actor | None, data: AccountCreate
) -> AccountRead:
    """Create an account. `actor` None means the operator at the command line."""
    if actor is not None:
        check_admin(actor)
    email = normalize_email(data.email)
    from_email = normalize_email(data.from_email, "from_email") if data.from_email else email
    if await session.scalar(sa.select(Account.id).where(Account.email == email)):
        raise Conflict(f"An account with the email {email} already exists.")
    account = Account(
        email=email,
        name=data.name.strip(),
        role=data.role,
        password_hash=hash_password(data.password),
        from_name=data.from_name or data.name.strip(),
        from_email=from_email,
    )
    session.add(account)
    await session.flush()
    return account_read(account)


class AssignableAccount(msgspec.Struct, kw_only=True):
    """Who a conversation may be given to: no email address, no other detail."""

    id: int
    name: str
    role: Role


async def list_assignable(session: AsyncSession, actor: Actor) -> list[AssignableAccount]:
    """The active accounts (every role works conversations), by name; any staff member may ask."""
    check_staff(actor)
    rows = await session.scalars(
        sa.select(Account).where(Account.is_active).order_by(Account.name, Account.id)
    )
    return [AssignableAccount(id=a.id, name=a.name, role=a.role) for a in rows]


async def list_accounts(session: AsyncSession, actor: Actor) -> list[AccountRead]:
    check_admin(actor)
    rows = await session.scalars(sa.select(Account).order_by(Account.name, Account.id))
    return [account_read(a) for a in rows]


@dataclass(frozen=True, slots=True)
class AccountChanged:
    account: AccountRead
    # The sessions the change ended (a new password, a deactivation): close their sockets
    # after the commit.
    ended: SessionsEnded | None = None


async def do_update_account(
    session: AsyncSession,
    actor: Actor,
    account_id: int,
    data: AccountUpdate,
    *,
    current_token: str | None = None,
) -> AccountChanged:
    """Change an account (admin). A new password or a deactivation ends the account's
    sessions: everywhere for someone else, everywhere but `current_token` (the admin's own
    session) for one's own password."""
    check_admin(actor)
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    changes = msgspec.structs.asdict(data)
    if isinstance(data.password, str):
        account.password_hash = hash_password(data.password)
    if isinstance(data.from_email, str):
        account.from_email = normalize_email(data.from_email, "from_email")
    for name in ("name", "role", "is_active", "from_name"):
        if changes[name] is not msgspec.UNSET:
            setattr(account, name, changes[name])
    if account.id == actor.id and (not account.is_active or account.role != actor.role):
        raise ValidationFailed.field("role", "you cannot demote or deactivate yourself")
    await session.flush()
    ended = None
    if isinstance(data.password, str) or not account.is_active:
        keep = current_token if account.id == actor.id else None
        ended = await end_sessions(session, account.id, keep_token=keep)
    return AccountChanged(account_read(account), ended)
