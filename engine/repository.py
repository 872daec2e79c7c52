"""Queries. Routes never write SQL; everything that reads the database by a rule lives here.

The statements every step or request runs (the case's lock, its open tasks, a role's users, ...) are built once with
bound parameters: building a statement from its columns and operators each time cost as much as a tenth of a step's
database work in a profile of the lifecycle (SQLAlchemy caches the compiled SQL, not the statement objects).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import rows
from .models import (
    Customer,
    Deployment,
    DeploymentFile,
    DirectoryFile,
    HumanTask,
    Instance,
    LoginThrottle,
    ProcessSpec,
    ProcessVersion,
    Ticket,
    TimelineEvent,
    User,
)

_CUSTOMER_BY_NAME = select(Customer).where(Customer.name == bindparam("name"))
_USER_BY_NAME = select(User).where(User.username == bindparam("username"))
_USERS_WITH_ROLE = (select(User.username, User.email, User.language).where(  # what a notice needs: no objects
    User.role == bindparam("role"), User.active.is_(True)).order_by(User.id))
_LATEST_VERSION = (select(ProcessVersion).where(ProcessVersion.process_id == bindparam("process_id"))
                   .order_by(ProcessVersion.version.desc()).limit(1))
_TICKET_BY_INSTANCE = select(Ticket).where(Ticket.instance_id == bindparam("instance_id"))
_OPEN_TASKS_OF_INSTANCE = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"),
                                                  HumanTask.state == "open")
_OPEN_TASKS_FRESH = _OPEN_TASKS_OF_INSTANCE.execution_options(populate_existing=True)
_LOCK_CASE_OF_TASK = (select(Instance, Ticket).join(HumanTask, HumanTask.instance_id == Instance.id)
                      .outerjoin(Ticket, Ticket.instance_id == Instance.id)
                      .where(HumanTask.id == bindparam("task_id")).with_for_update(of=Instance)
                      .execution_options(populate_existing=True))


@cache
def _lock_instance(skip_locked: bool) -> Select[Instance]:
    return (select(Instance).where(Instance.id == bindparam("instance_id")).with_for_update(skip_locked=skip_locked)
            .execution_options(populate_existing=True))


@cache
def _lock_case(skip_locked: bool) -> Select[Instance, Ticket]:
    return (select(Instance, Ticket).outerjoin(Ticket, Ticket.instance_id == Instance.id)
            .where(Instance.id == bindparam("instance_id")).with_for_update(of=Instance, skip_locked=skip_locked)
            .execution_options(populate_existing=True))


OPEN_TASKS_LIMIT = 500


TASK_COLUMNS = (HumanTask.id, HumanTask.ticket_id, HumanTask.bpmn_id, HumanTask.title, HumanTask.role,
                HumanTask.form_key, HumanTask.due_at, HumanTask.created_at, HumanTask.state, HumanTask.instructions,
                HumanTask.assignee)  # what a task shows (queries.task_dict): read as columns, no object loaded


@cache
def _open_tasks(by_role: bool, by_ticket: bool) -> Select[Any]:
    query: Select[Any] = select(*TASK_COLUMNS).where(HumanTask.state == "open")  # type: ignore[assignment]
    if by_role:
        query = query.where(HumanTask.role.in_(bindparam("roles", expanding=True)))
    if by_ticket:
        query = query.where(HumanTask.ticket_id == bindparam("ticket_id"))
    return query.order_by(HumanTask.created_at, HumanTask.id).limit(OPEN_TASKS_LIMIT)


def customer_by_name(session: Session, name: str) -> Customer | None:
    """The customer called `name`."""
    return session.scalar(_CUSTOMER_BY_NAME, {"name": name})


def customers(session: Session) -> Sequence[Customer]:
    """All customers by name."""
    return session.scalars(select(Customer).order_by(Customer.name)).all()


def user_by_name(session: Session, username: str) -> User | None:
    """The staff user `username`."""
    return session.scalar(_USER_BY_NAME, {"username": username})


def active_staff(session: Session) -> dict[str, str]:
    """Every active user's role, by username."""
    rows = session.execute(select(User.username, User.role).where(User.active.is_(True))).all()
    return {username: role for username, role in rows}


def users_with_role(session: Session, role: str) -> Sequence[Any]:
    """Active users of `role`: rows of their username, e-mail and language."""
    return rows.read(session, _USERS_WITH_ROLE, {"role": role})


def latest_version(session: Session, process_id: str) -> ProcessVersion | None:
    """The newest deployed version of a process."""
    return session.scalar(_LATEST_VERSION, {"process_id": process_id})


def latest_versions(session: Session) -> Sequence[ProcessVersion]:
    """The newest version of every process."""
    newest = (select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_id).subquery())
    return session.scalars(select(ProcessVersion).join(
        newest, (ProcessVersion.process_id == newest.c.process_id) & (ProcessVersion.version == newest.c.v))
        .order_by(ProcessVersion.process_id)).all()


def spec_json(session: Session, spec_hash: str) -> str:
    """The stored JSON of a spec."""
    spec = session.get(ProcessSpec, spec_hash)
    if spec is None:
        raise LookupError(f"spec {spec_hash} is not stored")
    return spec.json


def deployment_files(session: Session, deployment_id: int) -> Sequence[DeploymentFile]:
    """All files of one deployment."""
    return session.scalars(select(DeploymentFile).where(DeploymentFile.deployment_id == deployment_id)
                           .order_by(DeploymentFile.name)).all()


def latest_deployment_id(session: Session) -> int | None:
    """The id of the newest deployment."""
    return session.scalar(select(func.max(DeploymentFile.deployment_id)))


def deployment_file(session: Session, deployment_id: int, name: str) -> DeploymentFile | None:
    """One file of a deployment."""
    return session.scalar(select(DeploymentFile).where(
        DeploymentFile.deployment_id == deployment_id, DeploymentFile.name == name))


def lock_instance(session: Session, instance_id: int, *, skip_locked: bool = False) -> Instance | None:
    """Load an instance and lock its row for this transaction (SQLite: the write transaction locks)."""
    return session.scalar(_lock_instance(skip_locked), {"instance_id": instance_id})


def lock_case(session: Session, instance_id: int, *,
              skip_locked: bool = False) -> tuple[Instance | None, Ticket | None]:
    """`lock_instance` and the case's ticket in one statement (the ticket row is read, not locked)."""
    found = rows.load(session, _lock_case(skip_locked), {"instance_id": instance_id})
    return (found[0][0], found[0][1]) if found else (None, None)


def lock_case_of_task(session: Session, task_id: str) -> tuple[Instance | None, Ticket | None]:
    """`lock_case` for the case the task `task_id` belongs to, found through the task in the same statement."""
    found = rows.load(session, _LOCK_CASE_OF_TASK, {"task_id": task_id})
    return (found[0][0], found[0][1]) if found else (None, None)


def due_instance_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Running instances whose earliest timer is due: one indexed range scan."""
    query = (select(Instance.id).where(Instance.next_timer_at <= now, Instance.status == "running")
             .order_by(Instance.next_timer_at).limit(limit))
    return list(session.scalars(query))


def ticket_by_instance(session: Session, instance_id: int) -> Ticket | None:
    """The ticket a case belongs to."""
    return session.scalar(_TICKET_BY_INSTANCE, {"instance_id": instance_id})


def open_tasks_of_instance(session: Session, instance_id: int, *, fresh: bool = False) -> Sequence[HumanTask]:
    """Open human tasks of one case (`fresh`: rows already in the session are overwritten with what is stored)."""
    # built from plain rows where the session holds none of them yet (else through the ORM, as before)
    return [task for (task,) in rows.load(session, _OPEN_TASKS_FRESH if fresh else _OPEN_TASKS_OF_INSTANCE,
                                          {"instance_id": instance_id})]


def open_tasks(session: Session, *, roles: Sequence[str] | None, ticket_id: int | None) -> Sequence[Any]:
    """Open tasks, optionally for some roles or one ticket, oldest first; at most OPEN_TASKS_LIMIT. Each is a row of
    TASK_COLUMNS, read by attribute as a HumanTask is."""
    params: dict[str, Any] = {}
    if roles is not None:
        params["roles"] = list(roles)
    if ticket_id is not None:
        params["ticket_id"] = ticket_id
    return session.execute(_open_tasks(roles is not None, ticket_id is not None), params).all()


def timeline(session: Session, ticket_id: int) -> Sequence[TimelineEvent]:
    """A ticket's events in order."""
    return session.scalars(select(TimelineEvent).where(TimelineEvent.ticket_id == ticket_id)
                           .order_by(TimelineEvent.at, TimelineEvent.id)).all()


def versions_of(session: Session, process_id: str) -> Sequence[tuple[ProcessVersion, Deployment]]:
    """Every version of a process with the deployment that made it, newest first."""
    query = select(ProcessVersion, Deployment).join(Deployment, Deployment.id == ProcessVersion.deployment_id)
    rows = session.execute(query.where(ProcessVersion.process_id == process_id).order_by(ProcessVersion.version.desc()))
    return [(version, deployment) for version, deployment in rows]


def version_of(session: Session, process_id: str, version: int) -> ProcessVersion | None:
    """One version of a process."""
    return session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id,
                                                       ProcessVersion.version == version))


def running_cases_by_version(session: Session) -> dict[int, int]:
    """How many cases run on each process version (by version row id)."""
    rows = session.execute(select(Instance.version_id, func.count()).where(Instance.status == "running")
                           .group_by(Instance.version_id)).all()
    return {version_id: count for version_id, count in rows}


def running_instance_ids(session: Session, version_id: int) -> list[int]:
    """The running cases of one process version, oldest first."""
    return list(session.scalars(select(Instance.id).where(Instance.version_id == version_id,
                                                          Instance.status == "running").order_by(Instance.id)))


def directory_hashes(session: Session) -> dict[str, str]:
    """The content hash of each file of the processes directory when it was last deployed from there."""
    return {row.name: row.sha256 for row in session.scalars(select(DirectoryFile))}


def remember_directory(session: Session, hashes: dict[str, str], now: datetime) -> None:
    """Record the directory's files just deployed."""
    for name, sha in hashes.items():
        row = session.get(DirectoryFile, name)
        if row is None:
            session.add(DirectoryFile(name=name, sha256=sha, seen_at=now))
        else:
            row.sha256, row.seen_at = sha, now


def locked_counter(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The login-throttle or request-limit counter `key`, created if missing and locked for this transaction
    (PostgreSQL: FOR UPDATE; on SQLite the write transaction began IMMEDIATE and holds the database's write lock)."""
    insert: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(LoginThrottle).values(key=key, failures=0, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["key"]))
    row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
    assert row is not None
    return row
