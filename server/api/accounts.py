"""Accounts (admin only, except the names of whom a conversation may be assigned to; the role
checks are in the domain)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.schemas import AccountCreate, AccountRead, AccountUpdate
from inbox.accounts.service import (
    AssignableAccount,
    do_create_account,
    do_update_account,
    list_accounts,
    list_assignable,
)
from inbox.accounts.sessions import SignedIn
from inbox.core.access import Actor
from server.api.params import Id
from server.problems import answers
from server.services import Services


class AccountController(Controller):
    path = "/accounts"
    tags = ["accounts"]

    @get("/")
    async def list_(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[AccountRead]:
        """Every account (admin)."""
        return await list_accounts(session, actor)

    @get("/assignable")
    async def assignable(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[AssignableAccount]:
        """The active contact managers and admins (id, name, role) for the assignee picker."""
        return await list_assignable(session, actor)

    @post("/", opt=answers(409))
    async def create(
        self,
        data: JSONBody[AccountCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> AccountRead:
        """Create an account (admin)."""
        return await do_create_account(session, actor, data)

    @patch("/{account_id:int}")
    async def update(
        self,
        request: Request[Actor, SignedIn, Any],
        account_id: FromPath[Id],
        data: JSONBody[AccountUpdate],
        services: NamedDependency[Services],
        actor: NamedDependency[Actor],
    ) -> AccountRead:
        """Change an account's name, role, password, sender profile or active flag (admin).
        A new password or a deactivation signs the account out everywhere (but for the
        admin's own current session), sockets included."""
        async with services.transaction() as session:
            changed = await do_update_account(
                session, actor, account_id, data, current_token=request.auth.token
            )
        if changed.ended is not None:  # after the commit, so a reconnect finds no session
            await services.hub.end_sessions(changed.ended.account_id, changed.ended.session_ids)
        return changed.account
