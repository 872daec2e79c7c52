"""Keyset walks over open tasks (engine/worklist.py): one sort, one or more disjoint sets of conditions, each walked
as an index range seek from a position (the sort key and id of a row) forwards or backwards, or from an offset."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, select, true, tuple_
from sqlalchemy.orm import Session

from .models import HumanTask

Cursor = tuple[Any, str]  # (sort key or None, task id): a position in the list
FEW = true()  # marks a set of conditions whose matches are few: read whole, ordered in memory


class Walk:
    """The list's order over one or more disjoint sets of matches (the breached filter is two: overdue tasks, and
    tasks of overdue tickets not yet due themselves; each has its own index range), merged in memory a page at a
    time."""

    def __init__(self, session: Session, branches: list[list[Any]], key: Any, descending: bool) -> None:
        self.branches = [(_FewBranch if any(c is FEW for c in conditions) else _Branch)(
            session, [c for c in conditions if c is not FEW], key, descending) for conditions in branches]
        self.descending = descending

    def forward(self, cursor: Cursor | None, limit: int) -> list[Cursor]:
        """Up to `limit` positions after `cursor` (from the start without one), in the list's order."""
        return self._ordered([k for b in self.branches for k in b.forward(cursor, limit)])[:limit]

    def backward(self, cursor: Cursor | None, limit: int) -> list[Cursor]:
        """Up to `limit` positions before `cursor` (from the end without one), nearest first."""
        return self._ordered([k for b in self.branches for k in b.backward(cursor, limit)])[::-1][:limit]

    def offset(self, offset: int, limit: int) -> list[Cursor]:
        """`limit` positions from `offset` in the list's order (an offset costs its length)."""
        if len(self.branches) == 1:
            return self.branches[0].offset(offset, limit)
        return self._ordered([k for b in self.branches for k in b.offset(0, offset + limit)])[offset:offset + limit]

    def _ordered(self, keys: list[Cursor]) -> list[Cursor]:
        keyed = sorted((k for k in keys if k[0] is not None), reverse=self.descending)
        return keyed + sorted((k for k in keys if k[0] is None), reverse=self.descending)


class _Branch:
    """Keyset walks over one set of matches in one sort: the rows with a key in key order, then those without one
    (NULLS LAST on both databases), each an index range seek; `id` breaks ties."""

    def __init__(self, session: Session, conditions: list[Any], key: Any, descending: bool) -> None:
        self.session, self.conditions, self.key, self.descending = session, conditions, key, descending
        self.nullable = bool(key.property.columns[0].nullable)  # no rows without a key: no second walk

    def forward(self, cursor: Cursor | None, limit: int) -> list[Cursor]:
        """Up to `limit` positions after `cursor` (from the start without one), in the list's order."""
        found: list[Cursor] = []
        if cursor is None or cursor[0] is not None:
            found = self._segment(keyed=True, up=not self.descending, cursor=cursor, limit=limit)
        if len(found) < limit:
            after = cursor if cursor is not None and cursor[0] is None else None
            found += self._segment(keyed=False, up=not self.descending, cursor=after, limit=limit - len(found))
        return found

    def backward(self, cursor: Cursor | None, limit: int) -> list[Cursor]:
        """Up to `limit` positions before `cursor` (from the end without one), nearest first."""
        found: list[Cursor] = []
        if cursor is None or cursor[0] is None:
            found = self._segment(keyed=False, up=self.descending, cursor=cursor, limit=limit)
        if len(found) < limit:
            before = cursor if cursor is not None and cursor[0] is not None else None
            found += self._segment(keyed=True, up=self.descending, cursor=before, limit=limit - len(found))
        return found

    def offset(self, offset: int, limit: int) -> list[Cursor]:
        """`limit` positions from `offset` in the list's order, walking the index (an offset costs its length)."""
        up = not self.descending
        found = self._segment(keyed=True, up=up, cursor=None, limit=limit, offset=offset)
        if len(found) < limit:
            skipped = offset if not found and offset and self._segment(keyed=False, up=up, cursor=None, limit=1) else 0
            if skipped:  # the page starts among the rows without a key: how many rows have one?
                keyed = select(HumanTask.id).where(*self.conditions, self.key.is_not(None)).subquery()
                skipped = offset - (self.session.scalar(select(func.count()).select_from(keyed)) or 0)
            found += self._segment(keyed=False, up=up, cursor=None, limit=limit - len(found),
                                   offset=max(0, skipped))
        return found

    def _segment(self, *, keyed: bool, up: bool, cursor: Cursor | None, limit: int, offset: int = 0) -> list[Cursor]:
        if limit <= 0 or not keyed and not self.nullable:
            return []
        stmt = select(self.key, HumanTask.id).where(*self.conditions)
        if keyed:
            stmt = stmt.where(self.key.is_not(None)).order_by(*(c.asc() if up else c.desc()
                                                                for c in (self.key, HumanTask.id)))
            if cursor is not None:  # typed, so a time is stored-form (UTC) like the column
                position, at = tuple_(self.key, HumanTask.id), tuple_(literal(cursor[0], self.key.type),
                                                                      literal(cursor[1], HumanTask.id.type))
                stmt = stmt.where(position > at if up else position < at)
        else:
            stmt = stmt.where(self.key.is_(None)).order_by(HumanTask.id.asc() if up else HumanTask.id.desc())
            if cursor is not None:
                stmt = stmt.where(HumanTask.id > cursor[1] if up else HumanTask.id < cursor[1])
        return [(key, task_id) for key, task_id in self.session.execute(stmt.offset(offset or None).limit(limit))]


class _FewBranch(_Branch):
    """A set of matches read whole (one index range, no order) and walked in memory."""

    def forward(self, cursor: Cursor | None, limit: int) -> list[Cursor]:
        """Up to `limit` positions after `cursor`, in the list's order."""
        return [k for k in self._all() if cursor is None or self._after(k, cursor)][:limit]

    def backward(self, cursor: Cursor | None, limit: int) -> list[Cursor]:
        """Up to `limit` positions before `cursor`, nearest first."""
        return [k for k in reversed(self._all()) if cursor is None or self._after(cursor, k)][:limit]

    def offset(self, offset: int, limit: int) -> list[Cursor]:
        """`limit` positions from `offset`."""
        return self._all()[offset:offset + limit]

    def _all(self) -> list[Cursor]:
        keys = [(k, i) for k, i in self.session.execute(select(self.key, HumanTask.id).where(*self.conditions))]
        keyed = sorted((k for k in keys if k[0] is not None), reverse=self.descending)
        return keyed + sorted((k for k in keys if k[0] is None), reverse=self.descending)

    def _after(self, one: Cursor, other: Cursor) -> bool:
        """Whether `one` comes after `other` in the list's order."""
        if one[0] is None or other[0] is None:
            if one[0] is None and other[0] is None:
                return one[1] > other[1] if not self.descending else one[1] < other[1]
            return one[0] is None
        return bool(one > other) if not self.descending else bool(one < other)
