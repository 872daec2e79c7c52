"""The SQLite writers' queue: processes on one file take turns before BEGIN, a killed holder holds nobody up."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from engine.db import make_engine
from engine.uow import UnitOfWork
from engine.writers import Writers, writers_for

ROOT = Path(__file__).resolve().parents[2]

# A process that adds 1 to a counter `times` times, each in its own write transaction taken through the queue, with
# SQLite's own busy wait off: without the queue, two such processes make BEGIN IMMEDIATE fail with "locked".
INCREMENT = textwrap.dedent("""
    import sqlite3, sys
    from pathlib import Path
    from engine.writers import writers_for
    path, times = Path(sys.argv[1]), int(sys.argv[2])
    queue = writers_for(path)
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(times):
        with queue:
            db.execute("BEGIN IMMEDIATE")
            (value,) = db.execute("SELECT value FROM counter").fetchone()
            db.execute("UPDATE counter SET value = ?", (value + 1,))
            db.execute("COMMIT")
""")

# A process that takes the queue, says so and waits to be killed.
HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from engine.writers import writers_for
    queue = writers_for(Path(sys.argv[1]))
    queue.__enter__()
    print("holding", flush=True)
    time.sleep(600)
""")


def python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def counter_database(tmp_path: Path) -> Path:
    path = tmp_path / "queue.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE counter (value INTEGER NOT NULL)")
        db.execute("INSERT INTO counter VALUES (0)")
    return path


def test_two_processes_writing_at_once_lose_no_write_without_sqlites_busy_wait(tmp_path: Path) -> None:
    path = counter_database(tmp_path)
    writers = [python(INCREMENT, str(path), "300") for _ in range(2)]
    for process in writers:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in writers:  # both start together
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in writers:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM counter").fetchone() == (600,)
    assert Path(f"{path}-writers").exists()  # the queue's lock file lies beside the database


def test_a_writer_killed_while_holding_the_queue_holds_nobody_up(tmp_path: Path) -> None:
    path = counter_database(tmp_path)
    holder = python(HOLD, str(path))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        waiting = Writers(path, patience=0.3)
        assert waiting._fd is not None
        with waiting:  # held elsewhere: gives up after its patience and leaves the wait to SQLite
            assert not waiting._local.holds_file
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        waiting.patience = 30
        with waiting:
            assert waiting._local.holds_file
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_threads_of_one_process_take_turns_and_one_thread_may_enter_twice(tmp_path: Path) -> None:
    path = counter_database(tmp_path)
    queue = writers_for(path)
    assert writers_for(tmp_path / "." / "queue.db") is queue  # one queue per file and process
    inside, overlaps = [0], []

    def write() -> None:
        for _ in range(50):
            with queue, queue:  # a write unit opened inside another in the same thread
                inside[0] += 1
                overlaps.append(inside[0])
                time.sleep(0.0005)
                inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(overlaps) == 200 and max(overlaps) == 1


# Does another process find the queue taken? (a LOCK_NB try of its own on the lock file)
TRY = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1] + "-writers", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("free")
    except BlockingIOError:
        print("taken")
""")


def seen_by_another_process(path: Path) -> str:
    return subprocess.run([sys.executable, "-c", TRY, str(path)], capture_output=True, text=True, timeout=30,
                          check=True).stdout.strip()


def test_the_file_stays_locked_until_the_outermost_unit_ends(tmp_path: Path) -> None:
    path = counter_database(tmp_path)
    queue = writers_for(path)
    with queue:
        with queue:  # a write unit opened inside another in the same thread
            assert seen_by_another_process(path) == "taken"
        assert seen_by_another_process(path) == "taken"
    assert seen_by_another_process(path) == "free"


def test_units_of_work_on_one_file_share_one_queue_and_memory_or_uri_databases_make_no_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = UnitOfWork(make_engine(url)), UnitOfWork(make_engine(url))
    assert first._writer is second._writer and first._writer is not None
    with first() as session:  # a write unit holds the queue: another process finds it taken
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        assert seen_by_another_process(tmp_path / "shared.db") == "taken"
    assert seen_by_another_process(tmp_path / "shared.db") == "free"
    for other in (create_engine("sqlite://"), make_engine(f"sqlite:///file:{tmp_path / 'uri.db'}?mode=rwc&uri=true")):
        unit = UnitOfWork(other)
        assert unit._writer is not None and unit._writer._fd is None  # threads queue; no lock file
    assert not list(tmp_path.glob("*uri*-writers"))


def test_a_lock_file_that_cannot_be_made_leaves_writes_to_sqlite(tmp_path: Path) -> None:
    path = counter_database(tmp_path)
    (tmp_path / "queue.db-writers").symlink_to(tmp_path / "missing" / "lock")  # cannot be created through
    queue = Writers(path)
    assert queue._fd is None
    with queue, sqlite3.connect(path, isolation_level=None) as db:  # threads still queue; the write goes through
        db.execute("UPDATE counter SET value = value + 1")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM counter").fetchone() == (1,)


def test_a_forked_child_queues_on_its_own_lock_not_its_parents(tmp_path: Path) -> None:
    path = counter_database(tmp_path)
    queue = writers_for(path)
    with queue:  # the parent holds the queue while it forks
        child = os.fork()
        if child == 0:  # the child: its own descriptor, so the parent's lock keeps it out; its own thread lock
            try:
                queue.patience = 0.2
                with queue:
                    code = 1 if queue._local.holds_file else 0
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
