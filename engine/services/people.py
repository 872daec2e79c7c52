"""People: staff users (roles, passwords, lockout) and customers."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from .. import repository
from ..contacts import is_placeholder
from ..effects import ROLES
from ..errors import Unauthorized, ValidationFailed
from ..models import Customer, User
from ..users import Actor, hash_password, verify_password
from .base import Service

LOCKOUT_AFTER = 5
LOCKOUT_FOR = timedelta(minutes=15)


class PeopleService(Service):
    """Who may log in, with which role, and the customers tickets are for."""

    def add_user(self, *, username: str, role: str, password: str, email: str | None = None,
                 language: str = "zh-CN", password_hash: str | None = None) -> dict[str, Any]:
        """Create a staff user, or reset an existing one's role, password and e-mail.

        `password_hash`, when given, is the argon2 hash of `password` made already (demo users share one).
        """
        if role not in ROLES:
            raise ValidationFailed("unknown role", [{"field": "role", "message": f"roles are {', '.join(ROLES)}"}])
        with self.uow() as session:
            user = repository.user_by_name(session, username)
            if user is None:
                user = User(username=username, created_at=self.clock.now(), failed_logins=0, active=True)
                session.add(user)
            user.role, user.email, user.language = role, email, language
            user.password_hash = password_hash or hash_password(password)
            return {"username": username, "role": role, "email": email}

    def authenticate(self, *, username: str, password: str) -> Actor:
        """The actor for a username and password; locks the account for a while after repeated failures."""
        with self.uow() as session:
            user = repository.user_by_name(session, username)
            now = self.clock.now()
            if user is None or not user.active:
                raise Unauthorized("wrong username or password")
            if user.locked_until and user.locked_until > now:
                raise Unauthorized("too many failed attempts; the account is locked for a while")
            ok = verify_password(user.password_hash, password)
            user.failed_logins = 0 if ok else user.failed_logins + 1
            if user.failed_logins >= LOCKOUT_AFTER:
                user.locked_until, user.failed_logins = now + LOCKOUT_FOR, 0
        if not ok:
            raise Unauthorized("wrong username or password")
        return Actor(user.username, user.role)

    def actor(self, *, username: str) -> Actor:
        """The actor for an authenticated username (the user may have been removed since)."""
        with self.uow(write=False) as session:
            user = repository.user_by_name(session, username)
            if user is None or not user.active:
                raise Unauthorized("unknown user")
            return Actor(user.username, user.role)

    def add_customer(self, *, name: str, tier: str = "standard", email: str | None = None,
                     language: str = "zh-CN") -> dict[str, Any]:
        """Create or update a customer."""
        with self.uow() as session:
            cust = repository.customer_by_name(session, name)
            if cust is None:
                cust = Customer(name=name, created_at=self.clock.now())
                session.add(cust)
            cust.tier, cust.email, cust.language = tier, email, language
            return {"name": name, "tier": tier}

    def list_customers(self) -> list[dict[str, Any]]:
        """All real customers, by name (the choices of intake and contracts; no placeholder customer)."""
        with self.uow(write=False) as session:
            return [{"id": c.id, "name": c.name, "tier": c.tier} for c in repository.customers(session)
                    if not is_placeholder(c)]
