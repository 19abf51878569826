"""Who is acting, and the role checks every use case makes."""

from __future__ import annotations

from dataclasses import dataclass

from inbox.accounts.models import Account, Role
from inbox.errors import PermissionDenied


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in account a use case acts for."""

    id: int
    role: Role
    name: str
    email: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def check_admin(actor: Actor) -> None:
    """Raise unless the actor is an admin."""
    if not actor.is_admin:
        raise PermissionDenied("Only an admin may do this.")


def check_staff(actor: Actor) -> None:
    """Raise unless the actor may work conversations (contact managers and admins)."""
    if actor.role not in (Role.ADMIN, Role.CONTACT_MANAGER):
        raise PermissionDenied("Only contact managers and admins may do this.")


def is_owner_or_admin(actor: Actor, *owner_ids: int | None) -> bool:
    """True for an admin, or when the actor is one of `owner_ids` (None stands for nobody)."""
    return actor.is_admin or actor.id in owner_ids


def actor_of(account: Account) -> Actor:
    """The signed-in account as use cases see it."""
    return Actor(id=account.id, role=account.role, name=account.name, email=account.email)
