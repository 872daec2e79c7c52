"""One writer at a time on a SQLite file, queued without SQLite's busy handler.

SQLite lets one transaction write at a time (every write unit here begins with BEGIN IMMEDIATE). A writer that finds
the lock taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between tries: with
several processes on one file (`aftercare serve --workers 2`, its worker, a separate `aftercare worker`) the wait
cost more than the writes. `Writers` queues them before BEGIN instead:

- threads of one process on a re-entrant lock, where the next runs the moment the last commits;
- processes on an advisory `flock` of a file beside the database (`<database>-writers`), tried every 0.1-2 ms, so a
  waiting process starts within 2 ms of the write lock coming free. The kernel drops the lock of a process that
  dies, so a killed writer holds nobody up.

The queue only shortens the wait: BEGIN IMMEDIATE still decides, so a process without it (an older version, the
`sqlite3` shell) stays safe. A process that waits longer than `patience` goes on to BEGIN, and SQLite's busy
timeout answers as before (a `Conflict` after 30 s).
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # not on Windows: threads still queue, processes fall back on SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

FIRST_WAIT, LONGEST_WAIT = 0.0001, 0.002  # seconds between tries of the file lock


def writers_for(path: Path | None) -> Writers:
    """The queue of the SQLite file at `path`, one per file and process (two facades on one file in one process share
    it: two descriptors of one file would lock each other out); None: an in-memory database, threads only."""
    if path is None:
        return Writers(None)
    key = os.path.realpath(path)
    with _registry:
        found = _queues.get(key)
        if found is None:
            found = _queues[key] = Writers(Path(key))
        return found


class Writers:
    """Enter before a write transaction on the SQLite file at `path` (None: an in-memory database, threads only).
    The lock file stays open while the queue is in use and closes when it is gone."""

    def __init__(self, path: Path | None, *, patience: float = 30.0) -> None:
        self.patience = patience
        self._threads = threading.RLock()
        self._local = threading.local()
        self._fd: int | None = None
        if path is not None and fcntl is not None:
            self._fd = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            weakref.finalize(self, os.close, self._fd)

    def __enter__(self) -> Writers:
        self._threads.acquire()
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            try:
                self._local.holds_file = self._take_file()
            except BaseException:
                self._threads.release()
                raise
        self._local.depth = depth + 1
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._local.depth -= 1
        try:
            if self._local.depth == 0 and self._local.holds_file and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _take_file(self) -> bool:
        """Hold the file lock (True), or give up after `patience` seconds and leave the wait to SQLite (False)."""
        if self._fd is None:
            return False
        deadline, wait = time.monotonic() + self.patience, FIRST_WAIT
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(wait)
                wait = min(wait * 2, LONGEST_WAIT)


_registry = threading.Lock()
_queues: weakref.WeakValueDictionary[str, Writers] = weakref.WeakValueDictionary()
