"""Tables. Workflow state is JSON; everything lists and reports read is a projection column."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

# Base and the tables of sessions and request guards live in modules of their own; imported here, so that importing
# engine.models registers every table in Base.metadata (alembic, the tests' truncation) and the names stay importable
# from here.
from .models_base import Base as Base
from .models_guard import IdempotencyKey as IdempotencyKey
from .models_guard import LoginThrottle as LoginThrottle
from .models_guard import StaffSession as StaffSession


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tier: Mapped[str] = mapped_column(String(32), default="standard")
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    # the customer's own e-mail domains (lower-case, e.g. ["qingshan-hospital.example"]): a sender from one of
    # them is this customer's even before they are a contact; never a public domain such as qq.com
    domains: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class Contract(Base):
    __tablename__ = "contract"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    tier: Mapped[str] = mapped_column(String(32), default="standard")
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    warranty_end: Mapped[date | None]
    free_scope: Mapped[list[Any]] = mapped_column(default=list)
    calendar: Mapped[str] = mapped_column(String(16), default="working")
    inspection_months: Mapped[int] = mapped_column(Integer, default=3)
    next_inspection_at: Mapped[datetime | None] = mapped_column(index=True)
    sla_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class MonthlyReport(Base):
    """The monthly service report (月度服务报告) of one customer and month: the case that reviews and sends it
    (a ticket with prefix YB), the figures frozen when it started, and what the manager wrote."""

    __tablename__ = "monthly_report"
    __table_args__ = (UniqueConstraint("customer_id", "month", name="uq_monthly_report_customer_month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    month: Mapped[str] = mapped_column(String(7), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), unique=True)
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    analysis: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    internal_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Inspection(Base):
    """One inspection of a contract: unique per contract and due time, so a due inspection starts once."""

    __tablename__ = "inspection"
    __table_args__ = (UniqueConstraint("contract_id", "due_at", name="uq_inspection_contract_due"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), unique=True, index=True)
    due_at: Mapped[datetime]
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    signed_by: Mapped[str | None] = mapped_column(String(200))
    signed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Deployment(Base):
    __tablename__ = "deployment"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class DeploymentFile(Base):
    __tablename__ = "deployment_file"
    __table_args__ = (UniqueConstraint("deployment_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)


class DirectoryFile(Base):
    """A file of the processes directory as last deployed from there (so a start deploys only what changed)."""

    __tablename__ = "directory_file"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime]


class ProcessSpec(Base):
    __tablename__ = "process_spec"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ProcessVersion(Base):
    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), default="")
    spec_hash: Mapped[str] = mapped_column(ForeignKey("process_spec.hash"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    source_file: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Instance(Base):
    __tablename__ = "instance"
    __table_args__ = (Index("ix_instance_version_status", "version_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    next_timer_at: Mapped[datetime | None] = mapped_column(index=True)
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    incident_element: Mapped[str | None] = mapped_column(String(200))  # where a case parked as an incident failed
    incident_at: Mapped[datetime | None] = mapped_column(index=True)  # set while parked (status "incident")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": lock_version}


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (Index("ix_ticket_updated_at", "updated_at"), Index("ix_ticket_closed_at", "closed_at"),
                      Index("ix_ticket_title", "title"))  # the list's sorts (engine/ticket_list.py)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), index=True)
    origin_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"), index=True)
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="new", index=True)
    category: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[int | None] = mapped_column(Integer, index=True)
    onsite: Mapped[bool | None] = mapped_column(Boolean)
    tier: Mapped[str] = mapped_column(String(32), default="standard")
    sla_calendar: Mapped[str | None] = mapped_column(String(16))
    response_due: Mapped[datetime | None]
    resolve_due: Mapped[datetime | None] = mapped_column(index=True)
    responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    auto_accepted: Mapped[bool | None] = mapped_column(Boolean)
    closed_at: Mapped[datetime | None]
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    survey_score: Mapped[int | None] = mapped_column(Integer)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # waiting for the customer: since when the resolve clock stands still, and the working seconds it stood
    # still in earlier pauses (the SLA table shows them; breaches count unpaused time only)
    paused_at: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    breaches: Mapped[list[Any]] = mapped_column(default=list)
    archive: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class HumanTask(Base):
    __tablename__ = "human_task"
    # The task list walks one of the ix_human_task_list_* indexes in the order it shows (engine/worklist.py,
    # migration 0016); ticket_number, _customer_id, _severity and _resolve_due are the ticket's, copied while the task
    # is open (engine/projection.py) so that no join stands between a filter and the order.
    __table_args__ = (Index("ix_human_task_assignee_state", "assignee", "state"),
                      Index("ix_human_task_step_state", "bpmn_id", "state"),
                      Index("ix_human_task_list_due", "state", "due_at", "id", "role", "assignee", "ticket_severity",
                            "ticket_customer_id", "ticket_resolve_due"),
                      Index("ix_human_task_list_role", "state", "role", "due_at", "id", "assignee", "ticket_severity",
                            "ticket_customer_id", "ticket_resolve_due"),
                      Index("ix_human_task_list_assignee", "state", "assignee", "due_at", "id"),
                      Index("ix_human_task_list_severity", "state", "ticket_severity", "due_at", "id"),
                      Index("ix_human_task_list_customer", "state", "ticket_customer_id", "due_at", "id"),
                      Index("ix_human_task_list_resolve_due", "state", "ticket_resolve_due", "due_at", "id", "role",
                            "assignee", "ticket_severity", "ticket_customer_id"),
                      Index("ix_human_task_list_created", "state", "created_at", "id"),
                      Index("ix_human_task_list_by_severity", "state", "ticket_severity", "id"),
                      Index("ix_human_task_list_number", "state", "ticket_number", "id"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    bpmn_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(32), index=True)
    form_key: Mapped[str | None] = mapped_column(String(200))
    instructions: Mapped[str | None] = mapped_column(Text)
    ticket_status: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    assignee: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(100))
    ticket_number: Mapped[str | None] = mapped_column(String(32))
    ticket_customer_id: Mapped[int | None] = mapped_column(Integer)
    ticket_severity: Mapped[int | None] = mapped_column(Integer)  # a fault's severity; None for other tickets
    ticket_resolve_due: Mapped[datetime | None]


class TimelineEvent(Base):
    __tablename__ = "timeline_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    to_addr: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    # engine/outbox.py: the Message-ID every attempt carries, and the sender's renewable lease on a "sending" row
    message_id: Mapped[str | None] = mapped_column(String(300))
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    # staff mail only (engine/notifications.py): whom it is for, its kind, and the digest that carried it
    recipient: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(16))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)

    __table_args__ = (Index("ix_outbox_recipient_status", "recipient", "status"),
                      Index("ix_outbox_recipient_claimed", "recipient", "claimed_at"))  # notifications' window


# The sender finds due rows through partial indexes that hold only the rows still to send (a handful among 100,000
# sent): an index led by the status looks unselective to SQLite's planner once analysed, and is skipped.
for _status, _column in (("pending", OutboxMessage.next_attempt_at), ("held", OutboxMessage.next_attempt_at),
                         ("sending", OutboxMessage.lease_until)):
    Index(f"ix_outbox_{_status}", _column, sqlite_where=OutboxMessage.status == _status,
          postgresql_where=OutboxMessage.status == _status)


class CustomerLink(Base):
    __tablename__ = "customer_link"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    salt: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    task_bpmn_id: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Attachment(Base):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), index=True)  # sent with a message
    created_at: Mapped[datetime]


class TicketSearch(Base):
    """A ticket's search document (engine/search.py): its tokens, indexed by FTS5 on SQLite (the table
    `ticket_search_fts`, kept by triggers) and by a GIN expression index on PostgreSQL, both made in migration 0007."""

    __tablename__ = "ticket_search"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)
    document: Mapped[str] = mapped_column(Text, default="")


class SavedView(Base):
    """A ticket list a user keeps under a name: the list's query string."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_view_user_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]


class NotificationPreference(Base):
    """How one staff user wants one kind of notice: immediate, digest or none (engine/notifications.py)."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("username", "kind", name="uq_notification_preference_user_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("app_user.username", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime]


class Contact(Base):
    """A person of a customer (name, e-mail, phone, language): who writes in, signs in to "my tickets" and gets
    the customer's mail. An e-mail address belongs to one contact of one customer."""

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    phone: Mapped[str | None] = mapped_column(String(50))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Message(Base):
    """One message of a ticket's conversation: a staff reply (e-mailed to the contact), an internal note (never
    shown to or sent to the customer) or a customer's message (status page, e-mail reply, portal)."""

    __tablename__ = "message"
    __table_args__ = (Index("ix_message_ticket_at", "ticket_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(320))  # a staff username, or the customer's name or address
    author_kind: Mapped[str] = mapped_column(String(16))  # staff | customer | system
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # web | api | email | status_page | portal
    # the RFC 5322 Message-ID this message went out under (a staff reply) or came in with (an e-mail)
    email_message_id: Mapped[str | None] = mapped_column(String(300), unique=True)


class InboundMail(Base):
    """Every message the mail-in listener accepted or refused, and what became of it: the log that makes inbound
    mail idempotent (one Message-ID is handled once) and explainable."""

    __tablename__ = "inbound_mail"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(300), unique=True)
    from_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(32))  # reply | new_ticket | unmatched | auto_reply | loop | refused
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class KbArticle(Base):
    """A knowledge-base article (知识库): Markdown body, product module and tags, written from a resolved ticket
    and published through the kb_article procedure (engineer drafts, expert approves)."""

    __tablename__ = "kb_article"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    module: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # draft, review, published, retired; merged: an approved revision
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    # a revision of a published (or retired) article: on approval its text replaces that article's, and it is "merged"
    revises_id: Mapped[int | None] = mapped_column(ForeignKey("kb_article.id"), index=True)
    revised_status: Mapped[str | None] = mapped_column(String(16))  # the revised article's status when it began
    source_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), unique=True)  # its review case
    author: Mapped[str] = mapped_column(String(100))
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    published_at: Mapped[datetime | None]
    views: Mapped[int] = mapped_column(Integer, default=0)
    deflections: Mapped[int] = mapped_column(Integer, default=0)  # viewed, then no request filed
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class KbView(Base):
    """One reading of an article by a customer (portal search or a suggestion while typing a request): the
    request filed afterwards in the same portal visit, if any, tells a deflection from a miss."""

    __tablename__ = "kb_view"
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id"), index=True)
    visit: Mapped[str] = mapped_column(String(64), index=True)  # the portal visit's random key
    source: Mapped[str] = mapped_column(String(16))  # search | suggestion | link | staff
    filed_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    at: Mapped[datetime]
