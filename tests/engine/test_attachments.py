"""Attachments through the facade: stored with the ticket, listed without bytes, limits and names enforced."""
from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from engine.attachments import MAX_BYTES, TOO_LARGE, clean_content_type, clean_filename
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.errors import NotFound, ValidationFailed
from engine.users import Actor
from tests.support import Desk

ENGINEER = Actor("engineer", "engineer")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def desk(facade: Aftercare, clock: FakeClock) -> Desk:
    return Desk(facade, clock)


def attach(facade: Aftercare, ticket_id: int, data: bytes = PNG, filename: str = "screen.png",
           content_type: str | None = "image/png") -> dict:
    return facade.add_attachment(ticket_id=ticket_id, filename=filename, content_type=content_type, data=data,
                                 actor=ENGINEER)


def test_add_list_and_get(desk: Desk, facade: Aftercare, clock: FakeClock) -> None:
    tid = desk.create()
    added = attach(facade, tid)
    assert added["ticket_id"] == tid and added["filename"] == "screen.png" and added["size"] == len(PNG)
    assert added["sha256"] == hashlib.sha256(PNG).hexdigest() and added["uploaded_by"] == "engineer"
    assert datetime.fromisoformat(added["created_at"]) == clock.now()
    listed = facade.list_attachments(ticket_id=tid)
    assert listed == [added] and "data" not in listed[0]
    got = facade.get_attachment(attachment_id=added["id"])
    assert got["data"] == PNG and got["content_type"] == "image/png" and got["filename"] == "screen.png"


def test_list_is_per_ticket_and_oldest_first(desk: Desk, facade: Aftercare, clock: FakeClock) -> None:
    first, other = desk.create(), desk.create(title="打印机卡纸")
    attach(facade, first, filename="a.log", data=b"one")
    clock.advance(minutes=5)
    attach(facade, first, filename="b.log", data=b"two")
    attach(facade, other, filename="c.log", data=b"three")
    assert [a["filename"] for a in facade.list_attachments(ticket_id=first)] == ["a.log", "b.log"]
    assert [a["filename"] for a in facade.list_attachments(ticket_id=other)] == ["c.log"]


def test_size_limit(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    assert attach(facade, tid, data=b"x" * MAX_BYTES)["size"] == 10 * 1024 * 1024
    with pytest.raises(ValidationFailed) as raised:
        attach(facade, tid, data=b"x" * (MAX_BYTES + 1))
    assert raised.value.errors == [{"field": "file", "message": TOO_LARGE}]
    assert TOO_LARGE == "文件过大（最大 10 兆字节） File too large (max 10 MB)"
    assert len(facade.list_attachments(ticket_id=tid)) == 1


def test_empty_file_refused(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    with pytest.raises(ValidationFailed) as raised:
        attach(facade, tid, data=b"")
    assert [e["field"] for e in raised.value.errors] == ["file"]
    assert facade.list_attachments(ticket_id=tid) == []
    assert desk.events(tid, "attachment_added") == []


def test_unknown_ticket_and_attachment(facade: Aftercare) -> None:
    with pytest.raises(NotFound):
        attach(facade, 999_999)
    with pytest.raises(NotFound):
        facade.get_attachment(attachment_id=999_999)


def test_timeline_event(desk: Desk, facade: Aftercare, clock: FakeClock) -> None:
    tid = desk.create()
    attach(facade, tid, filename="error.log", data=b"500 Internal Server Error\n")
    events = desk.events(tid, "attachment_added")
    assert len(events) == 1
    assert events[0]["actor"] == "engineer" and events[0]["filename"] == "error.log" and events[0]["size"] == 26
    assert datetime.fromisoformat(events[0]["at"]) == clock.now()


def test_filename_sanitised_when_stored(desk: Desk, facade: Aftercare) -> None:
    tid = desk.create()
    added = attach(facade, tid, filename="C:\\Users\\王工\\Desktop\\日志\x00\r\n.txt")
    assert added["filename"] == "日志.txt"
    assert facade.get_attachment(attachment_id=added["id"])["filename"] == "日志.txt"


@pytest.mark.parametrize(("raw", "clean"), [
    ("../../etc/passwd", "passwd"),
    ("/var/log/app.log", "app.log"),
    ("a\\b\\c.png", "c.png"),
    ("tab\tbell\x07del\x7f.txt", "tabbelldel.txt"),
    ("invoice\u202egnp.exe", "invoicegnp.exe"),
    ("  report.pdf  ", "report.pdf"),
    ("", "attachment"),
    ("..", "attachment"),
    ("dir/", "attachment"),
])
def test_clean_filename(raw: str, clean: str) -> None:
    assert clean_filename(raw) == clean


def test_long_filename_keeps_extension() -> None:
    cleaned = clean_filename("长" * 300 + ".log")
    assert len(cleaned) == 255 and cleaned.endswith("长.log")
    assert len(clean_filename("x" * 300)) == 255


@pytest.mark.parametrize(("raw", "clean"), [
    ("image/png", "image/png"), ("Text/Plain; charset=GBK", "text/plain"), (None, "application/octet-stream"),
    ("", "application/octet-stream"), ("not a type", "application/octet-stream"),
    ("text/html\r\nX-Evil: 1", "application/octet-stream"),
])
def test_clean_content_type(raw: str | None, clean: str) -> None:
    assert clean_content_type(raw) == clean
