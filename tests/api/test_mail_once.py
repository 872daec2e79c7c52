"""Mail exactly once where SMTP allows it: a message the server took while the sender lost the connection, or died,
in DATA comes again under the same Message-ID (so mail systems can drop the copy); a dead sender's messages leave
once its lease runs out; two senders on one database never send the same message twice."""
from __future__ import annotations

import asyncio
import email
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from api.mail import Mailer
from engine import conversation
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.models import OutboxMessage
from engine.outbox import enqueue
from tests.support import Desk, free_port

ROOT = Path(__file__).resolve().parents[2]
LEASE = 30


class Sink:
    """A real SMTP server (aiosmtpd) that keeps what it receives; on the first DATA it takes the message and then
    fails the sender: `drop` closes the connection instead of answering, `stall` holds the answer until released."""

    def __init__(self, *, drop: bool = False, stall: bool = False) -> None:
        self.messages: list[Message] = []
        self.drop, self.stall = drop, stall
        self.in_data, self.release = threading.Event(), threading.Event()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append(email.message_from_bytes(envelope.content))
        if self.drop:
            self.drop = False
            server.transport.abort()  # the message is here; the sender never hears "250"
        elif self.stall:
            self.stall = False
            self.in_data.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 20)
        return "250 OK"

    def ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)


def sender(facade: Aftercare, clock: Any, sink: Sink) -> Aftercare:
    """A sender process on the test database that mails through `sink`."""
    return Aftercare(facade.settings.model_copy(update={"smtp_port": sink.port}), clock)


def outbox(facade: Aftercare) -> list[OutboxMessage]:
    return list(facade.run_in_unit(lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))))


def test_a_message_the_server_took_before_the_connection_dropped_comes_again_under_its_message_id(
        facade: Aftercare, clock: FakeClock) -> None:
    ticket_id = Desk(facade, clock).create()
    sink = Sink(drop=True)
    mailing = sender(facade, clock, sink)
    try:
        Mailer(mailing).send_pending()  # the first message fails in DATA, the rest go
        first = sink.messages[0]
        assert sink.ids()[first["Message-ID"]] == 1
        failed = [m for m in outbox(facade) if m.status == "pending"]
        assert len(failed) == 1 and "Disconnected" in str(failed[0].last_error)
        clock.advance(seconds=6)  # the retry's backoff
        assert Mailer(mailing).send_pending() == 1
    finally:
        mailing.close()
        sink.controller.stop()
    copies = [m for m in sink.messages if m["Message-ID"] == first["Message-ID"]]
    assert len(copies) == 2 and copies[0]["Subject"] == copies[1]["Subject"]
    assert conversation.is_ours(facade.settings, first["Message-ID"])
    assert facade.run_in_unit(lambda s: conversation.ticket_id_of_reference(s, facade.settings,
                                                                            first["Message-ID"])) == ticket_id
    assert {m.status for m in outbox(facade)} == {"sent"}
    assert all(n == 1 for mid, n in sink.ids().items() if mid != first["Message-ID"])


CHILD = """
from api.mail import Mailer
from engine.commands import Aftercare
from engine.settings import Settings
Mailer(Aftercare(Settings())).send_pending()
"""


def test_a_sender_killed_in_data_is_replaced_within_its_lease_and_the_message_keeps_its_id(
        facade: Aftercare, clock: FakeClock) -> None:
    Desk(facade, clock).create()
    queued = {m.id for m in outbox(facade) if m.status == "pending"}
    sink = Sink(stall=True)
    settings = facade.settings
    env = {**os.environ, "AFTERCARE_DATABASE_URL": settings.database_url, "AFTERCARE_SMTP_PORT": str(sink.port),
           "AFTERCARE_SMTP_HOST": "127.0.0.1", "AFTERCARE_SECRET_KEY": settings.secret_key,
           "AFTERCARE_BASE_URL": settings.base_url, "AFTERCARE_VAR_DIR": str(settings.var_dir),
           "AFTERCARE_PROCESSES_DIR": str(settings.processes_dir), "AFTERCARE_FORMS_DIR": str(settings.forms_dir)}
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        assert sink.in_data.wait(30), child.stderr.read().decode() if child.poll() is not None else "no DATA"
        child.kill()  # kill -9 while the server holds the message and has not answered
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        sink.release.set()
    [first] = sink.messages
    now = datetime.now(UTC)  # the child leased with the real clock
    replacement = sender(facade, FakeClock(now), sink)
    try:
        assert Mailer(replacement).send_pending() == 0  # the dead sender's lease still holds: nothing twice
        replacement.kernel.clock.advance(seconds=LEASE + 1)  # half a minute later, not five minutes
        assert Mailer(replacement).send_pending() == len(queued)
    finally:
        replacement.close()
        sink.controller.stop()
    ids = sink.ids()
    assert ids[first["Message-ID"]] == 2  # accepted in DATA, then the sender died: again, under the same id
    assert all(n == 1 for mid, n in ids.items() if mid != first["Message-ID"])
    assert {m.status for m in outbox(facade) if m.id in queued} == {"sent"}


def test_two_senders_at_once_send_each_message_once(facade: Aftercare, clock: FakeClock) -> None:
    ticket_id = Desk(facade, clock).create()
    facade.discard_unsent_mail(before=clock.now() + timedelta(seconds=1))
    customers = [f"c{n}@demo-customer.example" for n in range(24)]

    def write(session: Any) -> None:
        for address in customers:
            enqueue(session, to_addr=address, template="ticket_received", language="en", ticket_id=ticket_id,
                    now=clock.now(), context={"ticket_id": ticket_id})
    facade.run_in_unit(write, write=True)
    sink = Sink()
    senders = [sender(facade, clock, sink) for _ in range(2)]
    barrier, errors = threading.Barrier(2), []

    def run(aftercare: Aftercare) -> None:
        barrier.wait()
        try:
            mailer = Mailer(aftercare)
            while mailer.send_pending(limit=5):
                pass
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in senders]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for aftercare in senders:
            aftercare.close()
        sink.controller.stop()
    assert errors == []
    assert sorted(str(m["To"]) for m in sink.messages) == sorted(customers)
    assert len(sink.ids()) == len(customers)
    assert {m.status for m in outbox(facade) if m.to_addr in customers} == {"sent"}


def test_a_live_sender_keeps_its_message_through_a_long_data(facade: Aftercare, clock: FakeClock) -> None:
    """The lease is renewed while the server takes its time in DATA: no other sender takes the message meanwhile,
    although the whole exchange lasts longer than a lease."""
    ticket_id = Desk(facade, clock).create()
    facade.discard_unsent_mail(before=clock.now() + timedelta(seconds=1))
    facade.run_in_unit(lambda s: enqueue(s, to_addr="slow@demo-customer.example", template="ticket_received",
                                         language="en", ticket_id=ticket_id, now=clock.now(),
                                         context={"ticket_id": ticket_id}), write=True)
    sink = Sink(stall=True)
    slow = Aftercare(facade.settings.model_copy(update={"smtp_port": sink.port, "mail_lease_seconds": 3}), clock)
    other = Aftercare(facade.settings.model_copy(update={"smtp_port": sink.port, "mail_lease_seconds": 3}), clock)
    sent: list[int] = []
    thread = threading.Thread(target=lambda: sent.append(Mailer(slow).send_pending()))
    try:
        thread.start()
        assert sink.in_data.wait(20)
        for _ in range(2):  # 4 s of the clock in DATA, more than the lease; the sender renews every second (real
            clock.advance(seconds=2)
            time.sleep(1.5)  # time), each heartbeat from the moved clock; a real-time wait the test needs
            assert other.claim_outbox(limit=10) == []
        sink.release.set()
        thread.join(20)
    finally:
        sink.release.set()
        slow.close()
        other.close()
        sink.controller.stop()
    assert sent == [1] and len(sink.messages) == 1
    assert [m.status for m in outbox(facade) if m.to_addr == "slow@demo-customer.example"] == ["sent"]
