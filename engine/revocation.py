"""Ending staff sessions: the one statement logout, a password change and disabling a user share."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from .models import StaffSession


def revoke_all(session: Session, user_id: int, now: datetime) -> None:
    """End every session of one user, browser and API alike (logout, password change, disabling)."""
    session.execute(update(StaffSession).where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
                    .values(revoked_at=now))
