"""One monitor per SQLite database: an exclusive flock on `<db>.lock` beside it.

The kernel drops the lock when the process dies (even on kill -9), so a stale
lock file never blocks a restart; the pid written into it is only for the
message. PostgreSQL takes no lock: several instances share its database and
split the feeds between them (monitor.service.instances).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["InstanceLock", "InstanceLocked", "lock_database", "lock_path_for"]


class InstanceLocked(RuntimeError):
    """Another monitor holds the database; the message is one line for the operator."""


def lock_path_for(storage_url: str) -> Path | None:
    """`<db>.lock` for a SQLite file database; None when there is nothing to lock."""
    url = make_url(storage_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + ".lock")


class InstanceLock:
    def __init__(self, path: Path, database: str):
        self.path, self.database = path, database
        self._fd: int | None = None

    def acquire(self) -> "InstanceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise InstanceLocked(
                f"another monitor is already running on {self.database} (pid {holder}); "
                f"stop it first (lock: {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            # The file stays: deleting it would race with a starting instance.
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_database(storage_url: str) -> InstanceLock | None:
    """Take the single-instance lock of a SQLite database, or raise InstanceLocked;
    None for PostgreSQL, where instances share the database (monitor.service.instances)."""
    path = lock_path_for(storage_url)
    if path is None:
        return None
    database = make_url(storage_url).database or storage_url
    return InstanceLock(path, database).acquire()
