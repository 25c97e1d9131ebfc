"""The one owner of the database connection: engine, schema migration, the SQLite
write lock and the clock every repository stamps its rows with.

All SQL goes through SQLAlchemy Core with bound parameters; nothing is built by
string formatting. Repository methods are synchronous and short; async callers
run them with asyncio.to_thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
import typing
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import make_url

from monitor.store.schema import migrate

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock in UTC: the default Clock."""
    return datetime.now(timezone.utc)


@typing.overload
def aware(value: datetime) -> datetime: ...


@typing.overload
def aware(value: None) -> None: ...


def aware(value: datetime | None) -> datetime | None:
    """A datetime read from the database, as UTC. SQLite hands back naive datetimes;
    everything stored here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def inserted_id(result: CursorResult[typing.Any]) -> int:
    """The primary key of the row an INSERT wrote."""
    key = result.inserted_primary_key
    assert key is not None, "not an INSERT of one row"
    return int(key[0])


def database_problem(exc: Exception) -> str:
    """One line for a database failure: the driver's message, without the SQL or parameters."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return f"database error: {message}"


def display_url(url: str) -> str:
    """A database URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """SQLite (WAL) by default, PostgreSQL for scale-out; the schema is migrated on open."""

    def __init__(self, url: str, clock: Clock = utcnow, *, statement_timeout: float | None = None):
        self.url = url
        self.clock = clock
        self.engine = _make_engine(url, statement_timeout)
        # SQLite has one writer at a time; a second one waits in SQLite's busy handler,
        # which sleeps in growing steps (up to 100 ms) instead of waking when the lock is
        # free. The writes of this process (several worker threads) therefore take turns
        # on a lock of our own, which hands over at once. PostgreSQL needs none.
        self._write_lock: typing.ContextManager = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        with self.engine.begin() as conn:
            migrate(conn)

    def now(self) -> datetime:
        return self.clock()

    def read(self) -> typing.ContextManager[Connection]:
        """A connection for reading (no transaction of its own to commit)."""
        return self.engine.connect()

    @contextlib.contextmanager
    def write(self, conn: Connection | None = None) -> Iterator[Connection]:
        """One write transaction, committed at the end of the block (rolled back on an
        error), on `conn` or on a new connection; writers of this process take turns."""
        with self._write_lock:
            if conn is not None:
                with conn.begin():
                    yield conn
                return
            with self.engine.begin() as new:
                yield new

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    def close(self) -> None:
        self.engine.dispose()


# A new connection to PostgreSQL gives up after this long (a server restarting, a
# network partition), so a reconnect fails fast and is retried by its caller.
PG_CONNECT_TIMEOUT_SECONDS = 10

# The service makes its database calls from asyncio's default thread pool
# (asyncio.to_thread), at most min(32, CPUs + 4) at once, plus the odd call from the
# event loop's thread. A pool that large keeps a connection for each: a smaller one
# opens and closes an overflow connection at every busy moment (a new PostgreSQL
# backend each time), which at 10,000 feeds was a steady churn of connections.
PG_POOL_SIZE = min(32, (os.cpu_count() or 1) + 4) + 2


def _make_engine(url: str, statement_timeout: float | None = None) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: typing.Any, _record: typing.Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # pool_pre_ping: a pooled connection the server dropped (a restart) is found out and
    # replaced before use, so the first statement after a restart does not fail.
    connect_args: dict[str, typing.Any] = {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS}
    if statement_timeout:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
    return create_engine(url, pool_pre_ping=True, pool_size=PG_POOL_SIZE, max_overflow=PG_POOL_SIZE, connect_args=connect_args)
