"""Ticket search: a per-ticket document of tokens built here in Python, indexed by the database.

Why this way. The database's own n-gram tools do not fit Chinese: SQLite's FTS5 `trigram` tokenizer cannot match a
query shorter than three characters (`登录`, two characters, is the common case), and PostgreSQL's `pg_trgm` (and the
default text-search parser) drop CJK characters in the C locale most servers run with. So the tokens are made
here, the same on both databases: NFKC-normalised, lower-cased words of letters and digits (`zhang.wei@example.com`
→ `zhang wei example com`), and for every run of CJK characters its character bigrams plus the run's last
character alone (`系统无法登录` → `系统 统无 无法 法登 登录 录`). A query is tokenised the same way and its tokens
are ANDed: a CJK run of 2+ characters by its bigrams, a single CJK character as a prefix (every character starts
a bigram or ends a run, so `登*` finds it anywhere), a word as a prefix (`zhan` finds `zhang`).

The document (`ticket_search.document`: the tokens, each once, separated by single spaces) is indexed by
* SQLite: an FTS5 table with the plain `unicode61` tokenizer over it (external content, kept by triggers), queried
  with `MATCH`;
* PostgreSQL: a GIN index on `array_to_tsvector(string_to_array(document, ' '))` (lexemes taken as given, no
  parser and no locale involved), queried with `@@` and a tsquery written from the same tokens.
`index_ticket` rebuilds a ticket's document in the unit of work that saves the ticket (engine/projection.py); it
holds number, title, description, customer, contact name and e-mail, the data of every completed form and the
body of every message on the ticket's timeline. Bigrams ANDed may match a text holding the bigrams apart
(`登录失败` also finds `登录…录失…失败`); on tickets that is rare and harmless, and keeps both databases equal.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, any_, cast, literal, literal_column, select
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session
from sqlalchemy.sql import column, func, table

from .models import Customer, Message, Ticket, TicketSearch, TimelineEvent

# Han, kana and Hangul letters only: every one is a token character to FTS5's unicode61 as well.
_CJK = "\u3041-\u3096\u30a1-\u30fa\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>(?:(?![{_CJK}])[^\W_])+)")
NUMBER = re.compile(r"^[A-Za-z]{1,8}-\d{4}-\d{1,12}$")
FTS_TABLE = "ticket_search_fts"
TEXT_EVENTS = ("task_completed", "message", "message_posted", "message_received")
MAX_QUERY = 200


def tokens(text: str) -> list[str]:
    """The document tokens of `text`, in order, each once."""
    out: dict[str, None] = {}
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower()):
        word, run = match.group("word"), match.group("cjk")
        if word:
            out[word] = None
            continue
        for i in range(len(run) - 1):
            out[run[i:i + 2]] = None
        out[run[-1]] = None
    return list(out)


def query_terms(text: str) -> list[tuple[str, bool]]:
    """The query's terms as (token, is_prefix), all of which a ticket's document must hold."""
    out: dict[str, bool] = {}
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text[:MAX_QUERY]).lower()):
        word, run = match.group("word"), match.group("cjk")
        if word:
            out[word] = True
        elif len(run) == 1:
            out[run] = True
        else:
            for i in range(len(run) - 1):
                out.setdefault(run[i:i + 2], False)
    return list(out.items())


def document(parts: Iterable[Any]) -> str:
    """The search document of the given texts (strings, numbers and lists of them; other values skipped)."""
    seen: dict[str, None] = {}
    for part in _texts(parts):
        for token in tokens(part):
            seen[token] = None
    return " ".join(seen)


def _texts(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str | int | float):
            yield str(value)
        elif isinstance(value, dict):
            yield from _texts(value.values())
        elif isinstance(value, list | tuple):
            yield from _texts(value)


def fts5_query(terms: list[tuple[str, bool]]) -> str:
    """An FTS5 MATCH expression: every term, quoted, prefixes starred."""
    return " AND ".join('"' + t.replace('"', '""') + '"' + ("*" if prefix else "") for t, prefix in terms)


def tsquery(terms: list[tuple[str, bool]]) -> str:
    """A tsquery literal: every term as a quoted lexeme, prefixes `:*`, ANDed."""
    quoted = ("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if prefix else "") for t, prefix in terms)
    return " & ".join(quoted)


def tsvector_expr(doc: Any) -> Any:
    """The indexed PostgreSQL expression; the space is a literal so the planner can match the index."""
    return func.array_to_tsvector(func.string_to_array(doc, literal_column("' '")))


def matching_ids(dialect: str, text: str) -> Any | None:
    """A subquery of the ids of tickets whose document holds every term of `text` (None: no terms)."""
    terms = query_terms(text)
    if not terms:
        return None
    if dialect == "sqlite":
        fts = table(FTS_TABLE, column("rowid"))
        return select(fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(fts5_query(terms)))
    return select(TicketSearch.ticket_id).where(
        tsvector_expr(TicketSearch.document).op("@@")(cast(literal(tsquery(terms), String), TSQUERY)))


def ticket_filter(dialect: str, text: str, ticket_id: Any, *, walk: bool = False) -> ColumnElement[bool]:
    """`ticket_id` is one of the tickets whose document holds every term of `text` (false when it has none).

    On PostgreSQL the matches are collected once through the index (`= ANY(ARRAY(...))`) unless the caller `walk`s
    the list's order (many matches, an early page): left to choose, its planner may walk the list's order for a few
    matches too and rebuild each ticket's tsvector on the way, which it takes for cheap (a second for a rare word at
    100,000 tickets)."""
    ids = matching_ids(dialect, text)
    if ids is None:
        return literal(False)
    if dialect == "postgresql" and not walk:
        return ticket_id == any_(func.array(ids.scalar_subquery()))
    return ticket_id.in_(ids)


def count(session: Session, text: str, cap: int | None = None) -> int:
    """How many tickets match `text`, counted on the index alone (every document is a ticket's), up to `cap` + 1
    (None: all). PostgreSQL counts them all: under a LIMIT its planner swaps the index for a scan that rebuilds
    every document's tsvector."""
    ids = matching_ids(session.get_bind().dialect.name, text)
    if ids is None:
        return 0
    if cap is not None and session.get_bind().dialect.name != "postgresql":
        ids = ids.limit(cap + 1)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    return total if cap is None else min(total, cap + 1)


def number_filter(text: str) -> ColumnElement[bool] | None:
    """`ticket.number = text` when `text` is shaped like a ticket number (AC-2026-000003)."""
    text = unicodedata.normalize("NFKC", text).strip()
    return Ticket.number == text.upper() if NUMBER.match(text) else None


def ticket_texts(session: Session, ticket: Ticket) -> list[Any]:
    """Everything a ticket is found by: its own fields, its customer and its forms' and messages' text."""
    events = session.scalars(select(TimelineEvent.data).where(TimelineEvent.ticket_id == ticket.id,
                                                              TimelineEvent.kind.in_(TEXT_EVENTS)))
    extra = [data.get("data") or data.get("body") for data in events if isinstance(data, dict)]
    extra += session.scalars(select(Message.body).where(Message.ticket_id == ticket.id))  # notes too: staff search
    return [*own_texts(session, ticket), *extra]


def own_texts(session: Session, ticket: Ticket) -> list[Any]:
    """What a ticket is found by before any form or message: its own fields and its customer's name (all a ticket
    opened in this unit of work has)."""
    customer = session.get(Customer, ticket.customer_id)
    return [ticket.number, ticket.title, ticket.description, customer.name if customer else None,
            ticket.contact_name, ticket.contact_email]


def index_ticket(session: Session, ticket: Ticket, *, texts_changed: bool = True) -> None:
    """Bring the ticket's search document up to date in the caller's unit of work (written only when changed).

    A ticket already indexed is read again only when `texts_changed` (a form was completed): a timer firing or a
    claim adds no text, and the scheduler's units of work should not re-read the timeline for nothing."""
    row = session.get(TicketSearch, ticket.id)
    if row is not None and not texts_changed:
        return
    doc = document(ticket_texts(session, ticket))
    if row is None:
        session.add(TicketSearch(ticket_id=ticket.id, document=doc))
    elif row.document != doc:
        row.document = doc

