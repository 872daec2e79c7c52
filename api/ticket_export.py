"""The ticket list as a file: CSV (UTF-8 with a byte-order mark, so Excel shows Chinese) and XLSX (openpyxl)."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from openpyxl import Workbook

from .templating import local

COLUMNS: list[tuple[str, str, Callable[[dict[str, Any]], Any]]] = [
    ("number", "Ticket", lambda r: r["number"]),
    ("title", "Title", lambda r: r["title"]),
    ("customer", "Customer", lambda r: r["customer"]),
    ("status", "Status", lambda r: r["status"]),
    ("category", "Category", lambda r: r["category"] or ""),
    ("severity", "Severity", lambda r: r["severity"] if r["category"] == "fault" else None),
    ("channel", "Channel", lambda r: r["channel"]),
    ("assignees", "Held by", lambda r: ", ".join(r["assignees"])),
    ("created_at", "Created", lambda r: local(r["created_at"])),
    ("resolve_due", "Resolve by", lambda r: local(r["resolve_due"]) if r["resolve_due"] else ""),
    ("closed_at", "Closed", lambda r: local(r["closed_at"]) if r["closed_at"] else ""),
    ("breached", "Breached", lambda r: "yes" if r["breached"] else ""),
]


def _table(rows: list[dict[str, Any]], translate: Callable[[str], str]) -> list[list[Any]]:
    header = [translate(label) for _, label, _ in COLUMNS]
    return [header, *([value(r) for _, _, value in COLUMNS] for r in rows)]


def to_csv(rows: list[dict[str, Any]], translate: Callable[[str], str]) -> bytes:
    """The rows as CSV, UTF-8 with BOM, Beijing times."""
    out = io.StringIO()
    csv.writer(out).writerows(["" if v is None else v for v in line] for line in _table(rows, translate))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict[str, Any]], translate: Callable[[str], str]) -> bytes:
    """The rows as one XLSX sheet (written streaming: 50,000 rows stay small in memory)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Tickets")
    for line in _table(rows, translate):
        sheet.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
