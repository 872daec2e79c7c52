"""The outbox's claims are short leases: a dead sender's messages are taken back once its lease runs out (seconds,
not minutes), a live sender keeps what it renews, a sender that lost a message neither sends nor requeues it, each
row keeps the Message-ID its first claim fixed, and finding due rows reads the index, never the sent history."""
from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text

from api.mail import Mailer
from api.worker import Worker
from engine import conversation
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import OutboxMessage
from engine.outbox import enqueue
from tests.support import Desk, SmtpSink

LEASE = 30  # seconds, the default AFTERCARE_MAIL_LEASE_SECONDS


@pytest.fixture
def ticket_id(facade: Aftercare, clock: FakeClock) -> int:
    """One ticket, its own e-mails already out of the way."""
    tid = Desk(facade, clock).create()
    facade.discard_unsent_mail(before=clock.now() + timedelta(seconds=1))
    return tid


def queue(facade: Aftercare, ticket_id: int, count: int) -> list[int]:
    """`count` acknowledgements of the ticket to its contact, due now; their ids."""
    def write(session: Any) -> list[int]:
        for _ in range(count):
            enqueue(session, to_addr="wang@demo-customer.example", template="ticket_received", language="en",
                    ticket_id=ticket_id, now=facade.clock.now(), context={"ticket_id": ticket_id})
        newest = session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(count))
        return sorted(newest)
    return list(facade.run_in_unit(write, write=True))


def row(facade: Aftercare, outbox_id: int) -> OutboxMessage:
    return facade.run_in_unit(lambda s: s.get(OutboxMessage, outbox_id))


def another(facade: Aftercare, clock: FakeClock, **changes: Any) -> Aftercare:
    """A second sender process on the same database and clock."""
    return Aftercare(facade.settings.model_copy(update=changes), clock)


def test_a_dead_senders_claim_is_taken_back_once_its_lease_runs_out(facade: Aftercare, clock: FakeClock,
                                                                   ticket_id: int) -> None:
    ids = queue(facade, ticket_id, 3)
    dead = facade.claim_outbox(limit=10)  # claimed, then the process died
    assert sorted(e.id for e in dead) == ids
    survivor = another(facade, clock)
    try:
        assert survivor.claim_outbox(limit=10) == []
        clock.advance(seconds=LEASE - 1)
        assert survivor.claim_outbox(limit=10) == []  # still the dead sender's for a second
        clock.advance(seconds=2)  # half a minute after the crash, not five minutes
        taken = survivor.claim_outbox(limit=10)
    finally:
        survivor.close()
    assert sorted(e.id for e in taken) == ids
    assert {e.message_id for e in taken} == {e.message_id for e in dead}
    assert taken[0].lease_token != dead[0].lease_token


def test_a_live_sender_keeps_what_it_renews(facade: Aftercare, clock: FakeClock, ticket_id: int) -> None:
    ids = queue(facade, ticket_id, 2)
    mine = facade.claim_outbox(limit=10)
    other = another(facade, clock)
    try:
        for _ in range(4):  # two minutes of renewals every 20 s: never taken
            clock.advance(seconds=20)
            assert facade.renew_outbox_lease(ids=ids, token=str(mine[0].lease_token)) == set(ids)
            assert other.claim_outbox(limit=10) == []
        clock.advance(seconds=LEASE + 1)  # the renewals stop
        assert sorted(e.id for e in other.claim_outbox(limit=10)) == ids
    finally:
        other.close()


def test_a_sender_that_lost_its_lease_neither_sends_nor_puts_the_message_back(
        facade: Aftercare, clock: FakeClock, smtp: SmtpSink, ticket_id: int) -> None:
    [outbox_id] = queue(facade, ticket_id, 1)
    stale = facade.claim_outbox(limit=10)  # this sender froze for longer than the lease
    clock.advance(seconds=LEASE + 1)
    other = another(facade, clock)
    try:
        [taken] = other.claim_outbox(limit=10)
        assert facade.renew_outbox_lease(ids=[outbox_id], token=str(stale[0].lease_token)) == set()
        facade.outbox_failed(message_id=outbox_id, error="late failure", token=stale[0].lease_token)
        assert row(facade, outbox_id).status == "sending"  # still the new holder's, not back in the queue
        assert asyncio.run(Mailer(facade)._send_all(stale)) == 0  # the frozen sender wakes up: sends nothing
        assert smtp.messages == []
        assert asyncio.run(Mailer(other)._send_all([taken])) == 1
    finally:
        other.close()
    assert len(smtp.messages) == 1 and row(facade, outbox_id).status == "sent"


def test_a_batch_that_stalls_longer_than_a_third_of_the_lease_asks_again_before_the_next_message(
        facade: Aftercare, clock: FakeClock, smtp: SmtpSink, ticket_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick batch does not renew before each message (its lease is fresh); one that stalled after its first
    message for longer than the lease finds the rest taken by another sender and leaves every one of them to it
    (the renewal that found them lost does not make the next one look fresh)."""
    ids = queue(facade, ticket_id, 3)
    other = another(facade, clock)
    taken: list[Any] = []
    recorded = facade.outbox_sent

    def then_stall(**kwargs: Any) -> None:
        recorded(**kwargs)
        if not taken:  # the sender froze after its first message; meanwhile another one claimed the rest
            clock.advance(seconds=LEASE + 1)
            taken.extend(other.claim_outbox(limit=10))
    monkeypatch.setattr(facade, "outbox_sent", then_stall)
    try:
        assert Mailer(facade).send_pending() == 1
        assert [e.id for e in taken] == ids[1:]
        assert asyncio.run(Mailer(other)._send_all(taken)) == 2
    finally:
        other.close()
    assert len(smtp.messages) == 3  # each once
    assert [row(facade, i).status for i in ids] == ["sent", "sent", "sent"]


def test_messages_of_two_claims_are_each_renewed_with_their_own_token(
        facade: Aftercare, clock: FakeClock, smtp: SmtpSink, ticket_id: int) -> None:
    """A sender may hold a batch from two claims (two tokens); renewing it keeps both, so neither is given up."""
    ids = queue(facade, ticket_id, 2)
    first, second = facade.claim_outbox(limit=1), facade.claim_outbox(limit=1)
    assert first[0].lease_token != second[0].lease_token
    clock.advance(seconds=LEASE // 2)  # no longer fresh: each is renewed before it goes
    assert asyncio.run(Mailer(facade)._send_all([*first, *second], clock.now() - timedelta(seconds=LEASE // 2))) == 2
    assert len(smtp.messages) == 2 and [row(facade, i).status for i in ids] == ["sent", "sent"]


def test_the_message_id_is_fixed_at_the_first_claim(facade: Aftercare, clock: FakeClock, smtp: SmtpSink,
                                                    ticket_id: int) -> None:
    [outbox_id] = queue(facade, ticket_id, 1)
    [claimed] = facade.claim_outbox(limit=10)
    assert claimed.message_id == conversation.outbox_message_id(facade.settings, outbox_id)
    clock.advance(seconds=LEASE + 1)
    # the process comes back with another secret (and so another derivation): the message keeps its id
    restarted = another(facade, clock, secret_key="another-secret-key-0123456789-abcdefghij")
    try:
        assert Mailer(restarted).send_pending() == 1
    finally:
        restarted.close()
    [message] = smtp.messages
    assert message["Message-ID"] == claimed.message_id == row(facade, outbox_id).message_id


def test_staff_notices_held_for_a_digest_do_not_end_a_claim_early(facade: Aftercare, ticket_id: int) -> None:
    """A claim goes on past notices it holds back: the sender learns there is nothing more only when it is so."""
    def notices(session: Any) -> None:
        for n in range(30):  # one person, thirty tickets' worth of notices: the first goes, the rest are held
            enqueue(session, to_addr="manager@aftercare.example", template="triage_overdue", language="zh-CN",
                    ticket_id=None, now=facade.clock.now(), context={"n": n}, recipient="manager", kind="deadline")
    facade.run_in_unit(notices, write=True)
    ids = queue(facade, ticket_id, 5)
    claimed = facade.claim_outbox(limit=5)
    assert [e.template for e in claimed] == ["triage_overdue"] + ["ticket_received"] * 4
    assert [e.id for e in claimed][1:] == ids[:4]


# --- the claim reads the index ----------------------------------------------------------------------------------

def claim_statements(facade: Aftercare) -> list[tuple[str, Any]]:
    """The statements on the outbox a claim pass runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "outbox" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(facade.kernel.db, "before_cursor_execute", record)
    try:
        facade.claim_outbox(limit=20)
    finally:
        event.remove(facade.kernel.db, "before_cursor_execute", record)
    return seen


def fill_sent(facade: Aftercare, count: int) -> None:
    """`count` e-mails sent long ago: the history a busy desk's outbox holds."""
    past = facade.clock.now() - timedelta(days=30)
    rows = [{"to_addr": "x@example.com", "template": "ticket_received", "language": "zh-CN", "context": {},
             "status": "sent", "attempts": 1, "next_attempt_at": past, "created_at": past, "sent_at": past}
            for _ in range(count)]
    facade.run_in_unit(lambda s: s.execute(insert(OutboxMessage), rows), write=True)


def busy_outbox(facade: Aftercare, clock: FakeClock, ticket_id: int, sent: int) -> None:
    """Sent history, a dead sender's claim, a held notice whose digest is due and fresh pending mail."""
    fill_sent(facade, sent)
    facade.run_in_unit(lambda s: s.execute(text("ANALYZE")), write=True)  # statistics of a mature outbox
    queue(facade, ticket_id, 2)
    facade.claim_outbox(limit=1)
    def held(session: Any) -> None:
        session.add(OutboxMessage(to_addr="m@example.com", template="triage_overdue", language="zh-CN", context={},
                                  status="held", attempts=0, next_attempt_at=clock.now(), created_at=clock.now(),
                                  recipient="manager", kind="deadline"))
    facade.run_in_unit(held, write=True)
    clock.advance(seconds=LEASE + 1)
    queue(facade, ticket_id, 2)


# the partial indexes of the rows still to send, a recipient's (by status, or by claim time for the digest rule's
# window) and the primary key: through them a claim never walks the sent history (ix_outbox_next_attempt_at, which
# they replaced, walked every sent row: all of them are "due")
BY_STATUS = ("ix_outbox_pending", "ix_outbox_held", "ix_outbox_sending", "ix_outbox_recipient_status",
             "ix_outbox_recipient_claimed", "outbox_pkey")


def test_a_claim_reads_only_due_rows_through_the_index(facade: Aftercare, clock: FakeClock, ticket_id: int) -> None:
    """SQLite (EXPLAIN QUERY PLAN): every step of a claim on the outbox is an index search bound by the status.
    PostgreSQL (EXPLAIN, on a table with 20,000 sent rows): no sequential scan, only those indexes. Both after
    ANALYZE, whose statistics (nearly every row "sent") made SQLite walk a status-led index's rows in id order."""
    sqlite = facade.kernel.db.dialect.name == "sqlite"
    busy_outbox(facade, clock, ticket_id, sent=20_000)
    statements = claim_statements(facade)
    assert len(statements) >= 4
    plans, explain = [], "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN"
    for statement, parameters in statements:
        rows = facade.run_in_unit(lambda s, st=f"{explain} {statement}", p=parameters: s.connection().exec_driver_sql(
            st, p).all())
        plan = [str(r[-1]) for r in rows]
        plans.append("\n".join(plan))
        if sqlite:
            on_outbox = [line for line in plan if re.match(r"(SCAN|SEARCH) outbox\b", line)]
            used = [re.match(r"SEARCH outbox USING (?:COVERING )?INDEX (\w+)|SEARCH outbox USING INTEGER PRIMARY KEY",
                             line) for line in on_outbox]
            assert on_outbox and all(m and (m[1] or "outbox_pkey") in BY_STATUS for m in used), (statement, plan)
        else:
            assert not [line for line in plan if "Seq Scan on outbox" in line], (statement, plan)
            used = re.findall(r"(?:using|Bitmap Index Scan on) (\w+)", "\n".join(plan))
            assert used and set(used) <= set(BY_STATUS), (statement, plan)
    assert all(any(f"ix_outbox_{status}" in plan for plan in plans) for status in ("pending", "held", "sending"))


@pytest.mark.parametrize("lease", [2, 5000])
def test_the_lease_is_a_bounded_setting(facade: Aftercare, lease: int) -> None:
    with pytest.raises(ValueError, match="AFTERCARE_MAIL_LEASE_SECONDS"):
        facade.settings.model_validate({**facade.settings.model_dump(), "mail_lease_seconds": lease})


def test_sent_rows_carry_no_lease(facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    ids = queue(facade, ticket_id, 2)
    assert Mailer(facade).send_pending() == 2
    rows = facade.run_in_unit(lambda s: list(s.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))))
    assert {(r.status, r.lease_until, r.lease_token) for r in rows} == {("sent", None, None)}
    assert len({m["Message-ID"] for m in smtp.messages}) == 2


def serve_by_rule(smtp: SmtpSink, rule: Callable[[int, Any], str | None]) -> list[Any]:
    """Make the SMTP sink call `rule(n, server)` on the n-th message: an answer it returns refuses the message, None
    lets it be received. The peers (one per connection) of the messages, in order."""
    peers: list[Any] = []
    received = smtp.handle_DATA

    async def handle(server: Any, session: Any, envelope: Any) -> str:
        peers.append(session.peer)
        refusal = rule(len(peers), server)
        return refusal if refusal is not None else str(await received(server, session, envelope))
    smtp.handle_DATA = handle  # type: ignore[method-assign]
    return peers


def test_a_batch_goes_over_one_smtp_connection_and_a_refusal_does_not_hold_back_the_rest(
        facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    ids = queue(facade, ticket_id, 4)
    peers = serve_by_rule(smtp, lambda n, _server: "451 try again later" if n == 2 else None)  # refuse the second
    assert Mailer(facade).send_pending() == 3
    assert len(smtp.messages) == 3
    assert peers[0] == peers[1] != peers[2] == peers[3]  # one connection, a new one after the refusal
    assert [row(facade, i).status for i in ids] == ["sent", "pending", "sent", "sent"]


def test_a_connection_the_server_closed_between_messages_is_opened_again(
        facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    ids = queue(facade, ticket_id, 3)

    def hang_up_after_the_first(n: int, server: Any) -> None:  # one message per connection, then it closes
        if n == 1:
            asyncio.get_running_loop().call_soon(server.transport.close)
    peers = serve_by_rule(smtp, hang_up_after_the_first)
    assert Mailer(facade).send_pending() == 3
    assert len(smtp.messages) == 3 and peers[0] != peers[1] == peers[2]
    assert [row(facade, i).status for i in ids] == ["sent", "sent", "sent"]


def count_quits(smtp: SmtpSink) -> list[Any]:
    """Make the SMTP sink note each QUIT it gets (hooks are read when a connection opens); the peers that quit."""
    quits: list[Any] = []

    async def handle_quit(server: Any, session: Any, envelope: Any) -> str:
        quits.append(session.peer)
        return "221 Bye"
    smtp.handle_QUIT = handle_quit  # type: ignore[attr-defined]
    return quits


def test_the_mail_loop_keeps_its_connection_between_passes_and_quits_once_idle(
        facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    peers, quits = serve_by_rule(smtp, lambda _n, _server: None), count_quits(smtp)
    mailer = Mailer(facade, keep_open=0.3)
    try:
        queue(facade, ticket_id, 2)
        assert mailer.send_pending() == 2
        queue(facade, ticket_id, 1)
        assert mailer.send_pending() == 1  # the next pass: the same connection, no new greeting
        assert len(set(peers)) == 1 and quits == []
        assert mailer.send_pending() == 0  # nothing due, and not idle long enough yet: still open
        assert quits == []
        time.sleep(0.4)
        assert mailer.send_pending() == 0  # idle past keep_open: closed politely
        assert quits == [peers[0]]
        queue(facade, ticket_id, 1)
        assert mailer.send_pending() == 1  # a new connection for the next mail
        assert len(set(peers)) == 2 and peers[-1] != peers[0]
    finally:
        mailer.close()
    assert quits[-1] == peers[-1]  # closing the mailer (the worker stopping) quits too
    assert len(smtp.messages) == 4


def test_a_kept_connection_the_server_dropped_while_idle_is_opened_again(
        facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    def hang_up_after_the_first(n: int, server: Any) -> None:
        if n == 1:
            asyncio.get_running_loop().call_soon(server.transport.close)
    peers = serve_by_rule(smtp, hang_up_after_the_first)
    mailer = Mailer(facade, keep_open=20)
    try:
        first = queue(facade, ticket_id, 1)
        assert mailer.send_pending() == 1
        time.sleep(0.1)  # the server has hung up on the kept connection meanwhile
        second = queue(facade, ticket_id, 2)
        assert mailer.send_pending() == 2
    finally:
        mailer.close()
    assert len(smtp.messages) == 3 and peers[0] != peers[1] == peers[2]
    assert [row(facade, i).status for i in first + second] == ["sent", "sent", "sent"]


def test_the_worker_quits_its_smtp_connection_when_it_stops(facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    quits = count_quits(smtp)
    worker = Worker(facade, 0.05)
    queue(facade, ticket_id, 1)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not smtp.messages and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(smtp.messages) == 1
        time.sleep(0.2)  # several passes with nothing to send: the connection is kept, not reopened
        assert quits == []
    finally:
        worker.stop()
    assert len(quits) == 1


def test_an_app_shutting_down_in_its_event_loop_quits_the_kept_connection(
        facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    quits = count_quits(smtp)
    mailer = Mailer(facade, keep_open=20)
    queue(facade, ticket_id, 1)
    assert mailer.send_pending() == 1

    async def lifespan_ends() -> None:  # where `serve` stops its worker: inside the server's running loop
        mailer.close()
    asyncio.run(lifespan_ends())
    assert len(quits) == 1
    queue(facade, ticket_id, 1)
    assert mailer.send_pending() == 1  # and it can send again, over a new connection
    mailer.close()
    assert len(quits) == 2


def test_closing_while_a_pass_sends_waits_for_the_pass(facade: Aftercare, smtp: SmtpSink, ticket_id: int) -> None:
    quits, received = count_quits(smtp), smtp.handle_DATA

    async def slow(server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.5)  # a relay taking its time over the message
        return str(await received(server, session, envelope))
    smtp.handle_DATA = slow  # type: ignore[method-assign]
    mailer = Mailer(facade, keep_open=20)
    queue(facade, ticket_id, 1)
    sent: list[int] = []
    sender = threading.Thread(target=lambda: sent.append(mailer.send_pending()))
    sender.start()
    time.sleep(0.2)
    mailer.close()  # the worker stopping while the message is on the wire
    sender.join(timeout=10)
    assert sent == [1] and len(smtp.messages) == 1 and len(quits) == 1
