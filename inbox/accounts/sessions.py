"""Sign-in sessions kept server-side, and the rate limit on failed logins."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account, LoginFailure, UserSession
from inbox.accounts.passwords import hash_password, verify_password
from inbox.core.access import Actor, actor_of
from inbox.errors import RateLimited

SESSION_LIFETIME = timedelta(days=14)
# Failed sign-ins are remembered this long. A client gets a few free tries per account, then
# waits before each next one, the wait doubling up to the window; other clients (the account's
# owner among them) are not held up. A client trying many accounts is slowed on its own.
FAILURE_WINDOW = timedelta(minutes=15)
FREE_FAILURES_PER_PAIR = 5
FREE_FAILURES_PER_CLIENT = 20
FIRST_WAIT = timedelta(seconds=5)


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the account does not exist, so timing does not reveal which exist.
    return hash_password(secrets.token_hex(16))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_id_of(token_hash: str) -> str:
    """A session's name outside the database (the event bus between processes): derived from
    the stored hash, it leads back to neither the cookie nor the row."""
    return hashlib.sha256(b"inbox-session:" + token_hash.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    csrf_token: str
    actor: Actor
    expires_at: datetime

    @property
    def token_hash(self) -> str:
        return _digest(self.token)

    @property
    def session_id(self) -> str:
        return session_id_of(self.token_hash)


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """Sessions a transaction deleted: once it commits, their open sockets are closed."""

    account_id: int
    session_ids: tuple[str, ...]


def backoff_wait(failures: int, free: int) -> timedelta:
    """How long to wait after the last failure, having failed `failures` times in the window."""
    if failures < free:
        return timedelta(0)
    return min(FIRST_WAIT * (1 << min(failures - free, 16)), FAILURE_WINDOW)


async def _check_rate(session: AsyncSession, keys: list[tuple[str, int]], now: datetime) -> None:
    since = now - FAILURE_WINDOW
    for key, free in keys:
        count, last = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.max(LoginFailure.at)).where(
                    LoginFailure.key == key, LoginFailure.at > since
                )
            )
        ).one()
        if not count or last is None:
            continue
        until = last + backoff_wait(count, free)
        if until > now:
            seconds = math.ceil((until - now).total_seconds())
            raise RateLimited(
                f"Too many failed sign-in attempts from here. Try again in {_duration(seconds)}.",
                retry_after=seconds,
            )


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def _failure_keys(address: str, client: str) -> list[tuple[str, int]]:
    client = client[:64]
    return [
        (f"pair:{client} {address}", FREE_FAILURES_PER_PAIR),
        (f"client:{client}", FREE_FAILURES_PER_CLIENT),
    ]


async def do_login(
    session: AsyncSession, email: str, password: str, client: str, now: datetime
) -> SignedIn | None:
    """Check the password and open a session. None means wrong credentials: the failure is
    recorded in this transaction, so the caller must commit it. Failures are counted per
    client and account pair and per client; past a few, that client waits before trying again
    (even with the right password), longer each time, while everyone else signs in as usual."""
    address = email.strip().lower()
    keys = _failure_keys(address, client)
    await _check_rate(session, keys, now)
    account = await session.scalar(sa.select(Account).where(Account.email == address))
    # argon2 is deliberately slow: keep it off the event loop.
    stored_hash = account.password_hash if account else _dummy_hash()
    ok = await asyncio.to_thread(verify_password, stored_hash, password)
    if account is None or not ok or not account.is_active:
        session.add_all([LoginFailure(key=key, at=now) for key, _ in keys])
        return None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + SESSION_LIFETIME
    session.add(
        UserSession(
            token_hash=_digest(token),
            account_id=account.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
        )
    )
    await session.execute(sa.delete(LoginFailure).where(LoginFailure.key == keys[0][0]))
    return SignedIn(token=token, csrf_token=csrf, actor=actor_of(account), expires_at=expires)


async def get_signed_in(session: AsyncSession, token: str, now: datetime) -> SignedIn | None:
    """The live session behind a cookie token, or None."""
    row = (
        await session.execute(
            sa.select(UserSession, Account)
            .join(Account, Account.id == UserSession.account_id)
            .where(UserSession.token_hash == _digest(token))
        )
    ).first()
    if row is None:
        return None
    user_session, account = row
    if user_session.expires_at <= now or not account.is_active:
        return None
    return SignedIn(
        token=token,
        csrf_token=user_session.csrf_token,
        actor=actor_of(account),
        expires_at=user_session.expires_at,
    )


async def do_logout(session: AsyncSession, token: str) -> SessionsEnded | None:
    """End the session behind a cookie token (its sockets close once this commits)."""
    row = (
        await session.execute(
            sa.delete(UserSession)
            .where(UserSession.token_hash == _digest(token))
            .returning(UserSession.account_id, UserSession.token_hash)
        )
    ).first()
    if row is None:
        return None
    return SessionsEnded(row[0], (session_id_of(row[1]),))


async def end_sessions(
    session: AsyncSession, account_id: int, *, keep_token: str | None = None
) -> SessionsEnded:
    """End every session of an account but the one behind `keep_token` (the admin changing
    their own password stays signed in where they did it)."""
    query = sa.delete(UserSession).where(UserSession.account_id == account_id)
    if keep_token is not None:
        query = query.where(UserSession.token_hash != _digest(keep_token))
    hashes = (await session.execute(query.returning(UserSession.token_hash))).scalars().all()
    return SessionsEnded(account_id, tuple(session_id_of(h) for h in hashes))


async def live_sessions(
    session: AsyncSession, token_hashes: Collection[str], now: datetime
) -> set[str]:
    """Which of these stored session hashes still sign someone in."""
    wanted = list(token_hashes)
    live: set[str] = set()
    for start in range(0, len(wanted), 500):
        rows = await session.scalars(
            sa.select(UserSession.token_hash)
            .join(Account, Account.id == UserSession.account_id)
            .where(
                UserSession.token_hash.in_(wanted[start : start + 500]),
                UserSession.expires_at > now,
                Account.is_active,
            )
        )
        live.update(rows)
    return live


async def do_prune_sessions(session: AsyncSession, now: datetime) -> None:
    await session.execute(sa.delete(UserSession).where(UserSession.expires_at <= now))
    await session.execute(sa.delete(LoginFailure).where(LoginFailure.at <= now - FAILURE_WINDOW))
