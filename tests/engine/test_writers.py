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
