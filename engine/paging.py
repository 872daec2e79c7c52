"""Paged lists (the task list, the ticket list): one page of rows, the total for the pager, and a count that stops
at a cap, because counting every match of a broad filter costs more than the page itself at 100,000 tickets."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

COUNT_CAP = 10_000


@dataclass
class Page:
    """One page of rows plus the total, for the pager (beyond COUNT_CAP the total is COUNT_CAP + 1)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 25

    @property
    def capped(self) -> bool:
        """Whether there are more matches than were counted."""
        return self.total > COUNT_CAP

    @property
    def pages(self) -> int:
        """Number of pages."""
        return max(1, -(-self.total // self.per_page))


def capped_count(session: Session, stmt: Select[Any]) -> int:
    """How many rows `stmt` gives, counted up to COUNT_CAP + 1."""
    return session.scalar(select(func.count()).select_from(stmt.limit(COUNT_CAP + 1).subquery())) or 0


def last_page(page: int, total: int, per_page: int) -> int:
    """`page`, or the last page when it lies past the end (beyond the cap the end is not known)."""
    page = max(1, page)
    return min(page, max(1, -(-total // per_page))) if total <= COUNT_CAP else page
