"""The mail sender at 100,000 sent e-mails: a claim pass (idle, and one that takes 50 due messages), how long it
holds SQLite's write lock, and the read each e-mail's rendering makes. Each timing is printed with its baseline from
the same run (an empty outbox, the full ticket detail the sender used to read); ratios travel, times drift.

Run: `.venv/bin/python -m bench.outbox [--sent N]`.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, insert, text

from bench.common import open_facade
from bench.worklist import timings_ms
from engine import mail_context, repository
from engine.commands import Aftercare
from engine.models import OutboxMessage, Ticket
from engine.outbox import enqueue
from engine.queries import ticket_detail
from engine.users import Actor


def fill_sent(facade: Aftercare, count: int) -> None:
    """`count` e-mails sent in the past, as a busy desk's outbox holds them."""
    past = facade.clock.now() - timedelta(days=30)
    for start in range(0, count, 10_000):
        rows = [{"to_addr": f"c{n}@example.com", "template": "ticket_received", "language": "zh-CN", "context": {},
                 "status": "sent", "attempts": 1, "next_attempt_at": past, "created_at": past, "sent_at": past}
                for n in range(start, min(count, start + 10_000))]
        facade.run_in_unit(_inserter(rows), write=True)
    facade.run_in_unit(lambda s: s.execute(text("ANALYZE")), write=True)


def _inserter(rows: list[dict[str, Any]]) -> Callable[[Any], None]:
    def insert_rows(session: Any) -> None:
        session.execute(insert(OutboxMessage), rows)
    return insert_rows


class WriteLock:
    """How long each write transaction held SQLite's write lock (BEGIN IMMEDIATE to COMMIT), while watching."""

    def __init__(self, facade: Aftercare) -> None:
        self.engine, self._start = facade.kernel.db, 0.0
        self.held_ms: list[float] = []

    def __enter__(self) -> WriteLock:
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "commit", self._end)
        event.listen(self.engine, "rollback", self._end)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "commit", self._end)
        event.remove(self.engine, "rollback", self._end)

    def _begin(self, conn: Any) -> None:
        self._start = time.perf_counter() if conn.get_execution_options().get("aftercare_write", True) else 0.0

    def _end(self, _conn: Any) -> None:
        if self._start:
            self.held_ms.append((time.perf_counter() - self._start) * 1000)
            self._start = 0.0


def claim_due(facade: Aftercare, ticket_id: int, samples: int) -> tuple[tuple[float, float], float]:
    """A pass that finds 50 due messages and claims them (queued and removed again outside the timing): its median
    and p95, and the longest it held the write lock."""
    def queue(session: Any) -> None:
        due = facade.clock.now() - timedelta(seconds=1)
        for _ in range(50):
            enqueue(session, to_addr="x@example.com", template="ticket_received", language="zh-CN",
                    ticket_id=ticket_id, now=due, context={"ticket_id": ticket_id})

    times: list[float] = []
    locked: list[float] = []
    for _ in range(samples):
        facade.run_in_unit(queue, write=True)
        with WriteLock(facade) as lock:
            start = time.perf_counter()
            assert len(facade.claim_outbox(limit=50)) == 50
            times.append((time.perf_counter() - start) * 1000)
        locked += lock.held_ms
        facade.run_in_unit(lambda s: s.execute(delete(OutboxMessage).where(OutboxMessage.status == "sending")),
                           write=True)
    times.sort()
    return (statistics.median(times), times[int(len(times) * 0.95)]), max(locked)


def idle_pass(facade: Aftercare, samples: int) -> tuple[tuple[float, float], int]:
    """A pass that finds nothing due: its median and p95, and how many write transactions it opened."""
    with WriteLock(facade) as lock:
        timing = timings_ms(lambda: facade.claim_outbox(limit=50), samples)
    return timing, len(lock.held_ms)


def render_reads(facade: Aftercare, ticket_id: int) -> dict[str, Callable[[], Any]]:
    """What rendering one e-mail reads about its ticket: the narrow facts now, the whole detail before."""
    def narrow(session: Any) -> Any:
        return mail_context.ticket_facts(session, ticket_id)

    def whole(session: Any) -> Any:
        detail = ticket_detail(session, session.get(Ticket, ticket_id))
        return detail, repository.timeline(session, ticket_id)
    return {"narrow": lambda: facade.run_in_unit(narrow), "whole": lambda: facade.run_in_unit(whole)}


def main(argv: list[str] | None = None) -> int:
    """Time each figure against its baseline and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sent", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args(argv)
    facade = open_facade(Path(tempfile.mkdtemp(prefix="bench-outbox-")))
    try:
        ticket = facade.create_ticket(customer="Demo Customer", contact_name="王工", contact_email="x@example.com",
                                      channel="web", title="bench", description="", actor=Actor("bench", "admin"))
        facade.discard_unsent_mail(before=facade.clock.now() + timedelta(seconds=1))
        n = args.samples
        idle_empty, _ = idle_pass(facade, n)
        due_empty, _ = claim_due(facade, ticket["id"], n)
        fill_sent(facade, args.sent)
        idle_full, idle_writes = idle_pass(facade, n)
        due_full, due_locked = claim_due(facade, ticket["id"], n)
        reads = {name: timings_ms(run, n) for name, run in render_reads(facade, ticket["id"]).items()}
    finally:
        facade.close()
    print(f"outbox with {args.sent:,} sent e-mails (SQLite), median / p95 in ms, ratio to the baseline of this run")
    rows = [("idle claim pass", idle_full, idle_empty, "the same on an empty outbox"),
            ("claim of 50 due messages", due_full, due_empty, "the same on an empty outbox"),
            ("ticket read for one e-mail (narrow)", reads["narrow"], reads["whole"], "the full ticket detail")]
    for label, (median, p95), (base, base_p95), baseline in rows:
        print(f"  {label:36} {median:8.2f} / {p95:8.2f}   baseline {base:8.2f} / {base_p95:8.2f}   "
              f"ratio {median / base:5.2f}x  ({baseline})")
    print(f"  write transactions in {n} idle passes: {idle_writes}; longest write lock of a 50-message claim: "
          f"{due_locked:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
