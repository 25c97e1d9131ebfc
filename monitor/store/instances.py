"""The instances sharing one PostgreSQL database: their registry rows (heartbeats),
the named roles one of them holds at a time (leases: the sender of a bot token), and
the overview behind /healthz and `monitor stats`.

Every lease time is the database server's (`now()`), so instances on machines whose
clocks disagree still agree on who holds what. A lease is taken by one conditional
statement (free, expired, or already ours), so two instances asking at the same
moment cannot both get it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from monitor.store.database import PG_CONNECT_TIMEOUT_SECONDS, Database, aware, database_problem
from monitor.store.schema import ALERTS_CHANNEL, feeds, instances, leases

__all__ = ["InstanceInfo", "InstanceRepository", "LeaseGrant", "listen_for_alerts"]

# Rows of instances dead for this long are removed by the living (stats show them until then).
DEAD_ROWS_KEPT = timedelta(hours=1)


@dataclass(frozen=True)
class InstanceInfo:
    """One registered instance, as the others see it."""

    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_age: float  # seconds since its last heartbeat (database server time)
    alive: bool  # heartbeat within one lease
    feed_leases: int  # feeds it holds a claim on now
    last_polled: int  # feeds whose last poll was its
    roles: tuple[str, ...]  # leases it holds (e.g. "sender:123456")


@dataclass(frozen=True)
class LeaseGrant:
    """The answer to a lease request: whether we hold it now, and who does."""

    held: bool
    owner: str | None
    expires_in: float  # seconds left on the holder's lease (server time); 0 when free


class InstanceRepository:
    def __init__(self, database: Database):
        self._db = database

    # -- the registry ----------------------------------------------------------

    def register(self, instance_id: str, host: str, pid: int) -> None:
        with self._db.write() as conn:
            conn.execute(insert(instances).values(id=instance_id, host=host, pid=pid, started_at=func.now(), heartbeat_at=func.now()))

    def heartbeat(self, instance_id: str, lease_seconds: float) -> bool:
        """Renew this instance's row and its feed claims, in one transaction. False when
        its row is gone (removed as dead after a long outage): register again."""
        until = func.now() + timedelta(seconds=lease_seconds)
        with self._db.write() as conn:
            found = conn.execute(update(instances).where(instances.c.id == instance_id).values(heartbeat_at=func.now())).rowcount
            conn.execute(update(feeds).where(feeds.c.lease_owner == instance_id).values(lease_until=until))
        return found == 1

    def prune_dead(self) -> int:
        """Remove the rows of instances dead for longer than DEAD_ROWS_KEPT."""
        with self._db.write() as conn:
            return conn.execute(delete(instances).where(instances.c.heartbeat_at < func.now() - DEAD_ROWS_KEPT)).rowcount

    def deregister(self, instance_id: str) -> None:
        """A clean stop: its row, its feed claims and its roles go at once (no one waits a lease)."""
        with self._db.write() as conn:
            conn.execute(update(feeds).where(feeds.c.lease_owner == instance_id).values(lease_owner=None, lease_until=None))
            conn.execute(delete(leases).where(leases.c.owner == instance_id))
            conn.execute(delete(instances).where(instances.c.id == instance_id))

    # -- roles -------------------------------------------------------------------

    def acquire(self, name: str, instance_id: str, lease_seconds: float) -> LeaseGrant:
        """Take or renew the lease `name` for `lease_seconds` when it is free, expired or
        ours; else say who holds it and for how long."""
        until = func.now() + timedelta(seconds=lease_seconds)
        with self._db.write() as conn:
            taken = conn.execute(
                update(leases)
                .where(leases.c.name == name, or_(leases.c.owner == instance_id, leases.c.expires_at < func.now()))
                .values(
                    owner=instance_id,
                    expires_at=until,
                    # a takeover starts a new tenure; a renewal keeps it
                    acquired_at=case((leases.c.owner == instance_id, leases.c.acquired_at), else_=func.now()),
                )
            ).rowcount
            if taken == 1:
                return LeaseGrant(True, instance_id, lease_seconds)
            row = conn.execute(
                select(leases.c.owner, func.extract("epoch", leases.c.expires_at - func.now())).where(leases.c.name == name)
            ).first()
            if row is not None:
                return LeaseGrant(False, row[0], max(float(row[1] or 0.0), 0.0))
        try:
            with self._db.write() as conn:
                conn.execute(insert(leases).values(name=name, owner=instance_id, acquired_at=func.now(), expires_at=until))
        except IntegrityError:  # another instance created it at the same moment
            return self.acquire(name, instance_id, lease_seconds)
        return LeaseGrant(True, instance_id, lease_seconds)

    def release(self, name: str, instance_id: str) -> None:
        with self._db.write() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == instance_id))

    # -- the overview ------------------------------------------------------------

    def overview(self, lease_seconds: float) -> list[InstanceInfo]:
        """Every registered instance, oldest first, with its claims and roles."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(
                    instances.c.id,
                    instances.c.host,
                    instances.c.pid,
                    instances.c.started_at,
                    func.extract("epoch", func.now() - instances.c.heartbeat_at),
                ).order_by(instances.c.started_at, instances.c.id)
            ).all()
            leased: dict[str, int] = dict(
                conn.execute(
                    select(feeds.c.lease_owner, func.count())
                    .where(feeds.c.lease_owner.is_not(None), feeds.c.lease_until > func.now())
                    .group_by(feeds.c.lease_owner)
                ).all()
            )
            polled: dict[str, int] = dict(
                conn.execute(
                    select(feeds.c.last_polled_by, func.count()).where(feeds.c.last_polled_by.is_not(None)).group_by(feeds.c.last_polled_by)
                ).all()
            )
            roles: dict[str, list[str]] = {}
            for name, owner in conn.execute(select(leases.c.name, leases.c.owner).where(leases.c.expires_at > func.now())):
                roles.setdefault(owner, []).append(name)
        return [
            InstanceInfo(
                id=instance_id,
                host=host,
                pid=pid,
                started_at=aware(started),
                heartbeat_age=round(max(float(age or 0.0), 0.0), 1),
                alive=float(age or 0.0) <= lease_seconds,
                feed_leases=int(leased.get(instance_id, 0)),
                last_polled=int(polled.get(instance_id, 0)),
                roles=tuple(sorted(roles.get(instance_id, ()))),
            )
            for instance_id, host, pid, started, age in rows
        ]


async def listen_for_alerts(
    url: str, on_alerts: Callable[[], None], on_problem: Callable[[str, int], None], *, retry_cap: float = 30.0
) -> None:
    """Until cancelled: call `on_alerts()` at every NOTIFY of queued alerts (the alerts
    table's trigger, any instance's commit) and once after each (re)connection, since
    notifications sent while this connection was down are not kept for it.

    One dedicated connection whose socket the event loop watches (`add_reader`): a
    waiting sender costs no wake-up and no query until alerts are queued. (psycopg's
    own `notifies()` wakes ten times a second to look.) A lost connection is retried
    with a growing pause; `on_problem(message, failures in a row)` is told each time
    (0 failures: connected again)."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    failures = 0
    while True:
        conn: psycopg.Connection[Any] | None = None
        try:
            connected: psycopg.Connection[Any] = await asyncio.to_thread(
                lambda: psycopg.connect(
                    conninfo, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_SECONDS, keepalives=1, keepalives_idle=30
                )
            )
            conn = connected
            await asyncio.to_thread(connected.execute, f"LISTEN {ALERTS_CHANNEL}")
            if failures:
                on_problem("reconnected", 0)
            failures = 0
            on_alerts()
            await _notifications(connected, on_alerts)  # until the connection fails
        except psycopg.Error as exc:
            failures += 1
            on_problem(database_problem(exc), failures)
            await asyncio.sleep(min(2.0 ** min(failures, 6), retry_cap) * 0.5)
        finally:
            if conn is not None:
                conn.close()


async def _notifications(conn: Any, on_alerts: Callable[[], None]) -> None:
    """Call `on_alerts()` whenever notifications arrive on `conn` (a psycopg connection
    that LISTENs); returns never, raises the connection's error when it fails."""
    import psycopg
    from psycopg import pq

    loop = asyncio.get_running_loop()
    pgconn = conn.pgconn
    lost: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            pgconn.consume_input()
            if pgconn.status != pq.ConnStatus.OK:
                raise psycopg.OperationalError("the connection to the database was closed")
            heard = False
            while pgconn.notifies() is not None:
                heard = True
            if heard:
                on_alerts()
        except psycopg.Error as exc:
            if not lost.done():
                lost.set_exception(exc)

    loop.add_reader(pgconn.socket, readable)
    try:
        await lost
    finally:
        loop.remove_reader(pgconn.socket)
