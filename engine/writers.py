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
`sqlite3` shell) stays safe. A process that waits longer than `patience` (10 s) goes on to BEGIN, where SQLite's busy
timeout (30 s) answers as before, with a `Conflict` at the end. Where the lock file cannot be made or locked (another
account's file, a file system without `flock`), processes fall back on SQLite's busy handler alone, as before this
queue, and the log says so once.
"""
from __future__ import annotations

import logging
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
log = logging.getLogger("aftercare.engine")


def writers_for(database: str | os.PathLike[str] | None) -> Writers:
    """The queue of the SQLite database `database` (a SQLAlchemy URL's database part), one per file and process: two
    facades on one file in one process share it, as two descriptors of one file would lock each other out. In memory
    (None, "", ":memory:") or a URI filename ("file:..."): threads only."""
    name = os.fspath(database) if database is not None else ""
    if name in ("", ":memory:") or name.startswith("file:"):
        return Writers(None)
    key = os.path.realpath(name)
    with _registry:
        found = _queues.get(key)
        if found is None:
            found = _queues[key] = Writers(Path(key))
        return found


class Writers:
    """Enter before a write transaction on the SQLite file at `path` (None: an in-memory database, threads only).
    The lock file stays open while the queue is in use and closes when it is gone."""

    def __init__(self, path: Path | None, *, patience: float = 10.0) -> None:
        self.path = path
        self.patience = patience
        self._threads = threading.RLock()
        self._local = threading.local()
        self._fd: int | None = None
        self._closer: weakref.finalize[[int], Writers] | None = None
        self._open()
        _all.add(self)

    def __enter__(self) -> Writers:
        self._threads.acquire()
        try:
            depth = getattr(self._local, "depth", 0)
            if depth == 0:
                self._local.holds_file = self._take_file()
            self._local.depth = depth + 1
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._local.depth -= 1
        try:
            if self._local.depth == 0 and self._local.holds_file and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _open(self) -> None:
        """Open (and if need be make) the lock file, with the database file's permissions: a flock needs only a
        descriptor open for reading, so any account that may read the database may queue."""
        if self.path is None or fcntl is None:
            return
        lock_file = f"{self.path}-writers"
        try:
            mode = os.stat(self.path).st_mode & 0o666 if self.path.exists() else 0o600
            self._fd = os.open(lock_file, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, mode)  # flock needs no write
        except OSError as exc:
            log.warning("no writers' queue across processes for %s (%s): SQLite's busy handler decides alone",
                        self.path, exc)
            return
        if os.geteuid() == 0 and self.path.exists():  # made by root (a CLI command under sudo): the service's too
            try:
                owner = os.stat(self.path)
                os.fchown(self._fd, owner.st_uid, owner.st_gid)
            except OSError:
                pass
        self._closer = weakref.finalize(self, os.close, self._fd)

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
            except OSError as exc:  # no flock on this file system (ENOLCK, EOPNOTSUPP ...): threads only from now
                log.warning("the writers' lock file of %s cannot be locked (%s): SQLite's busy handler decides alone",
                            self.path, exc)
                self._close()
                return False

    def _close(self) -> None:
        if self._closer is not None:
            self._closer()  # closes the descriptor once
        self._fd, self._closer = None, None

    def _after_fork(self) -> None:
        """In a forked child: its own locks and descriptor (a flock belongs to the open file, which the child shares
        with its parent, and a lock another thread held at the fork would never be released)."""
        self._threads = threading.RLock()
        self._local = threading.local()
        if self._closer is not None:
            self._closer.detach()
            os.close(self._fd)  # type: ignore[arg-type]
        self._fd, self._closer = None, None
        self._open()


_registry = threading.Lock()
_queues: weakref.WeakValueDictionary[str, Writers] = weakref.WeakValueDictionary()
_all: weakref.WeakSet[Writers] = weakref.WeakSet()


def _reset_after_fork() -> None:
    global _registry
    _registry = threading.Lock()
    for queue in list(_all):
        queue._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
