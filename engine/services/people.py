"""People: staff users (roles, passwords, administration by admins) and customers."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from .. import repository
from ..clock import Clock
from ..contacts import is_placeholder
from ..effects import ROLES
from ..errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from ..kernel import Kernel
from ..models import Customer, StaffSession, User
from ..revocation import revoke_all
from ..users import MAX_PASSWORD, MIN_PASSWORD, Actor, hash_password, verify_password
from .base import Service

LANGUAGES = ("zh-CN", "en")
USERNAME = re.compile(r"[\w.@-]{1,100}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


class PeopleService(Service):
    """Who may log in, with which role, and the customers tickets are for."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.wall = Clock()  # sessions' times are wall-clock times (engine/services/sessions.py)

    def add_user(self, *, username: str, role: str, password: str, email: str | None = None,
                 language: str = "zh-CN", password_hash: str | None = None) -> dict[str, Any]:
        """Create a staff user, or reset an existing one's role, password and e-mail (the CLI's verb; a new
        password ends the user's sessions).

        `password_hash`, when given, is the argon2 hash of `password` made already (demo users share one).
        """
        if role not in ROLES:
            raise ValidationFailed("unknown role", [{"field": "role", "message": f"roles are {', '.join(ROLES)}"}])
        new_hash = password_hash or hash_password(password)  # before the transaction: argon2 takes a while
        with self.uow() as session:
            user = repository.user_by_name(session, username)
            if user is None:
                user = User(username=username, created_at=self.clock.now(), active=True)
                session.add(user)
            elif user.password_hash != new_hash:
                revoke_all(session, user.id, self.wall.now())
            user.role, user.email, user.language = role, email, language
            user.password_hash = new_hash
            return {"username": username, "role": role, "email": email}

    def actor(self, *, username: str) -> Actor:
        """The actor for an authenticated username (the user may have been removed since)."""
        with self.uow(write=False) as session:
            user = repository.user_by_name(session, username) if 0 < len(username) <= 100 else None
            if user is None or not user.active:
                raise Unauthorized("unknown user")
            return Actor(user.username, user.role)

    def list_users(self, *, actor: Actor) -> list[dict[str, Any]]:
        """Every staff user with the number of live sessions, for admins."""
        _admin_only(actor)
        now = self.wall.now()
        with self.uow(write=False) as session:
            live = {user_id: count for user_id, count in session.execute(
                select(StaffSession.user_id, func.count()).where(StaffSession.revoked_at.is_(None),
                                                                 StaffSession.expires_at > now)
                .group_by(StaffSession.user_id))}
            return [{"username": u.username, "role": u.role, "email": u.email, "language": u.language,
                     "active": u.active, "created_at": u.created_at, "sessions": live.get(u.id, 0)}
                    for u in session.scalars(select(User).order_by(User.username))]

    def create_user(self, *, actor: Actor, username: str, role: str, email: str, language: str,
                    password: str) -> dict[str, Any]:
        """An admin adds a staff user; a username already taken is refused."""
        _admin_only(actor)
        errors = _user_errors(role, email, language) + _password_errors(password)
        if not USERNAME.fullmatch(username):
            errors.insert(0, {"field": "username", "message": "1 to 100 letters, digits or . _ @ -"})
        if errors:
            raise ValidationFailed("the user has errors", errors)
        new_hash = hash_password(password)
        with self.uow() as session:
            if repository.user_by_name(session, username) is not None:
                raise ValidationFailed("the user has errors", [{"field": "username", "message": "already taken"}])
            session.add(User(username=username, role=role, email=email or None, language=language,
                             password_hash=new_hash, active=True, created_at=self.clock.now()))
        return {"username": username, "role": role}

    def update_user(self, *, actor: Actor, username: str, role: str, email: str, language: str) -> None:
        """An admin changes a user's role, e-mail and language; the last active admin stays an admin."""
        _admin_only(actor)
        errors = _user_errors(role, email, language)
        if errors:
            raise ValidationFailed("the user has errors", errors)
        with self.uow() as session:
            user = _user(session, username)
            if user.role == "admin" and role != "admin" and user.active and _active_admins(session) <= 1:
                raise ValidationFailed("the last admin", [{"field": "role", "message": "the last admin stays admin"}])
            user.role, user.email, user.language = role, email or None, language

    def set_active(self, *, actor: Actor, username: str, active: bool) -> None:
        """An admin disables a user (every session ends) or enables them again; never themselves or the last
        admin."""
        _admin_only(actor)
        if username == actor.name and not active:
            raise ValidationFailed("not yourself", [{"field": "active", "message": "you cannot disable yourself"}])
        with self.uow() as session:
            user = _user(session, username)
            if not active and user.role == "admin" and user.active and _active_admins(session) <= 1:
                raise ValidationFailed("the last admin", [{"field": "active", "message": "the last admin stays"}])
            user.active = active
            if not active:
                revoke_all(session, user.id, self.wall.now())

    def reset_password(self, *, actor: Actor, username: str, password: str) -> None:
        """An admin sets a user's new password; the user's sessions end."""
        _admin_only(actor)
        errors = _password_errors(password)
        if errors:
            raise ValidationFailed("the password has errors", errors)
        self._store_password(username, hash_password(password))

    def change_password(self, *, actor: Actor, current: str, new: str) -> None:
        """A user changes their own password, giving the current one; every session of theirs ends (the caller
        starts a fresh one for the browser in use)."""
        with self.uow(write=False) as session:
            stored = _user(session, actor.name).password_hash
        if len(current) > MAX_PASSWORD or not verify_password(stored, current):
            raise ValidationFailed("wrong password", [{"field": "current", "message": "wrong password"}])
        errors = _password_errors(new, field="new")
        if errors:
            raise ValidationFailed("the password has errors", errors)
        self._store_password(actor.name, hash_password(new))

    def _store_password(self, username: str, new_hash: str) -> None:
        with self.uow() as session:
            user = _user(session, username)
            user.password_hash = new_hash
            revoke_all(session, user.id, self.wall.now())

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


def _admin_only(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("only admins may manage staff users")


def _user(session: Any, username: str) -> User:
    user = repository.user_by_name(session, username) if 0 < len(username) <= 100 else None
    if user is None:
        raise NotFound("no such user")
    return user


def _active_admins(session: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(User).where(User.role == "admin",
                                                                           User.active.is_(True))) or 0)


def _user_errors(role: str, email: str, language: str) -> list[dict[str, str]]:
    errors = []
    if role not in ROLES:
        errors.append({"field": "role", "message": "unknown role"})
    if email and (len(email) > 320 or not EMAIL.fullmatch(email)):
        errors.append({"field": "email", "message": "not an e-mail address"})
    if language not in LANGUAGES:
        errors.append({"field": "language", "message": "zh-CN or en"})
    return errors


def _password_errors(password: str, field: str = "password") -> list[dict[str, str]]:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return [{"field": field, "message": f"{MIN_PASSWORD} to {MAX_PASSWORD} characters"}]
    return []
