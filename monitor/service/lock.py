"""One monitor per SQLite database: an exclusive flock on `<db>.lock` beside it.

The kernel drops the lock when the process dies (even on kill -9), so a stale
lock file never blocks a restart; the pid written into it is only for the
message. On PostgreSQL the same rule is a session advisory lock held on a
dedicated connection: the server drops it when that connection ends. Several
instances sharing one database (splitting the feeds) is the scale-out path,
not built yet; until then `service.single_instance: true` holds there too.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import Connection, Engine, make_url


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


# Any fixed 64-bit number: advisory locks are per database, so one key is enough.
_ADVISORY_KEY = 0x1AA9_4A7C_4D0E_1701


class PostgresInstanceLock:
    def __init__(self, storage_url: str):
        self.storage_url = storage_url
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    def acquire(self) -> "PostgresInstanceLock":
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        self._engine = create_engine(self.storage_url, poolclass=NullPool)
        self._conn = self._engine.connect()
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}).scalar()
        self._conn.commit()
        if not got:
            holder = self._conn.execute(
                text(
                    "SELECT a.client_addr, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
                )
            ).first()
            self.release()
            who = f"backend pid {holder[1]}" + (f" from {holder[0]}" if holder and holder[0] else "") if holder else "unknown"
            shown = make_url(self.storage_url).render_as_string(hide_password=True)
            raise InstanceLocked(
                f"another monitor is already running on {shown} ({who}); stop it first "
                "(or set service.single_instance: false once instances can share a database)"
            )
        return self

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # ending the session releases the advisory lock
            finally:
                self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def lock_database(storage_url: str) -> InstanceLock | PostgresInstanceLock | None:
    """Take the single-instance lock for this database, or raise InstanceLocked."""
    if make_url(storage_url).get_backend_name() == "postgresql":
        return PostgresInstanceLock(storage_url).acquire()
    path = lock_path_for(storage_url)
    if path is None:
        return None
    database = make_url(storage_url).database or storage_url
    return InstanceLock(path, database).acquire()
