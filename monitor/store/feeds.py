"""The feeds table: each feed's state (validators, error streak, broken flag), its
next poll time, and the batched bookkeeping of routine polls.

With several instances on one PostgreSQL database (`owner` set), a feed is polled
by the instance that claimed it: `claim` is one conditional UPDATE (due, and not
claimed by a living other instance), and the write of the poll's next poll time
releases the claim in the same statement."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, null, or_, select, update
from sqlalchemy.exc import IntegrityError

from monitor.store.database import Database, aware
from monitor.store.schema import feeds

__all__ = ["ClaimRefused", "FeedRepository", "FeedState", "NextPoll"]


@dataclass(frozen=True)
class FeedState:
    id: int
    url: str
    name: str
    etag: str | None
    last_modified: str | None
    error_streak: int
    broken_since: datetime | None
    seeded: bool
    declared_interval: float | None


@dataclass(frozen=True)
class ClaimRefused:
    """The feed is not this instance's to poll now."""

    retry_in: float  # seconds until it is due, or until the holder's claim runs out
    holder: str | None  # the instance polling it now, if any


# When to poll a feed next, given its state after this poll; called inside the poll's
# write, so the next poll time is stored with the outcome in one statement.
NextPoll = Callable[[FeedState], datetime]

# One prepared statement; the SET clause follows the keys of the parameters.
_UPDATE_FEED = update(feeds).where(feeds.c.id == bindparam("feed_id_"))
# A batched 304 never overwrites a poll recorded after it (record_poll writes at once,
# a flush may run later in another thread).
_FLUSH_POLL = update(feeds).where(
    feeds.c.id == bindparam("feed_id_"),
    or_(feeds.c.last_polled_at.is_(None), feeds.c.last_polled_at <= bindparam("polled_at_", type_=feeds.c.last_polled_at.type)),
)
# Several instances: the write of a poll's outcome releases this instance's claim (and
# leaves another's alone: one that took over after our claim ran out).
_RELEASE = {
    "lease_owner": case((feeds.c.lease_owner == bindparam("owner_"), null()), else_=feeds.c.lease_owner),
    "lease_until": case((feeds.c.lease_owner == bindparam("owner_"), null()), else_=feeds.c.lease_until),
}
_UPDATE_FEED_RELEASE = _UPDATE_FEED.values(**_RELEASE)
_FLUSH_POLL_RELEASE = _FLUSH_POLL.values(**_RELEASE)


class FeedRepository:
    """Feeds and their poll outcomes.

    Keeps a write-through cache of the rows this process has read or written (by id
    and by URL): a poll of an unchanged feed then costs one UPDATE and no SELECT. It
    is only this process's view; a failure is still counted from the row itself."""

    def __init__(self, database: Database):
        self._db = database
        # This instance's id when several share the database (set by the coordinator):
        # polls are claimed, and their outcomes release the claim.
        self.owner: str | None = None
        self._by_id: dict[int, FeedState] = {}
        self._by_url: dict[str, FeedState] = {}
        # Routine poll bookkeeping not yet written (see note_not_modified), by feed id.
        self._pending: dict[int, dict[str, Any]] = {}
        self._pending_lock = threading.Lock()

    def ensure(self, url: str, name: str) -> FeedState:
        """The feed's state, its row created (or re-named) when needed."""
        with self._db.write() as conn:
            row = conn.execute(select(feeds).where(feeds.c.url == url)).mappings().first()
            if row is not None and name and row["name"] != name:
                conn.execute(update(feeds).where(feeds.c.id == row["id"]).values(name=name))
        if row is None:
            try:
                with self._db.write() as conn:
                    conn.execute(feeds.insert().values(url=url, name=name, error_streak=0, seeded=False))
            except IntegrityError:
                pass  # another instance inserted it first (on PostgreSQL its transaction is over: read in a new one)
            with self._db.read() as conn:
                row = conn.execute(select(feeds).where(feeds.c.url == url)).mappings().one()
        return self._remember(_feed_state(row, name or row["name"]))

    def claim(self, url: str, name: str, lease_seconds: float) -> FeedState | ClaimRefused:
        """Claim the feed for one poll by this instance (`owner`): granted when it is due
        (feeds.next_poll_at, this instance's clock) and not claimed by another instance
        whose claim still runs (database server time). One conditional UPDATE, so of
        several instances asking at once exactly one gets it. The granted row refreshes
        this process's copy of the feed (another instance may have polled it since)."""
        assert self.owner is not None, "claims need the instance's id (FeedRepository.owner)"
        for _ in range(3):
            with self._db.write() as conn:
                row = (
                    conn.execute(
                        update(feeds)
                        .where(
                            feeds.c.url == url,
                            or_(feeds.c.next_poll_at.is_(None), feeds.c.next_poll_at <= self._db.now()),
                            or_(feeds.c.lease_owner.is_(None), feeds.c.lease_owner == self.owner, feeds.c.lease_until < func.now()),
                        )
                        .values(lease_owner=self.owner, lease_until=func.now() + timedelta(seconds=lease_seconds))
                        .returning(*feeds.c)
                    )
                    .mappings()
                    .first()
                )
                if row is not None:
                    return self._remember(_feed_state(row, row["name"]))
                found = conn.execute(
                    select(
                        feeds.c.next_poll_at, feeds.c.lease_owner, func.extract("epoch", feeds.c.lease_until - func.now())
                    ).where(feeds.c.url == url)
                ).first()
            if found is None:  # a new feed: its row first, then the claim
                self.ensure(url, name)
                continue
            next_poll_at, holder, lease_left = aware(found[0]), found[1], float(found[2] or 0.0)
            due_in = (next_poll_at - self._db.now()).total_seconds() if next_poll_at is not None else 0.0
            held_for = lease_left if holder not in (None, self.owner) else 0.0
            if due_in > 0 or held_for > 0:
                return ClaimRefused(max(due_in, held_for), holder if held_for > 0 else None)
            # Due and free now: the row changed between the two statements (another
            # instance's insert or release committed in between): ask again.
        return ClaimRefused(0.0, None)

    def cached(self, url: str, name: str) -> FeedState | None:
        """The feed's state as this process last read or wrote it, without a database
        round trip; None when it is not known yet or was re-named (then call ensure)."""
        state = self._by_url.get(url)
        if state is None or (name and state.name != name):
            return None
        return state

    def _remember(self, state: FeedState) -> FeedState:
        self._by_id[state.id] = state
        self._by_url[state.url] = state
        return state

    def record_poll(
        self,
        feed_id: int,
        *,
        status: str,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        declared_interval: float | None = None,
        seeded: bool | None = None,
        broken_after: timedelta | None = None,
        next_poll: NextPoll | None = None,
        listed_since: datetime | None = None,
    ) -> FeedState:
        """Remember the outcome of a poll; errors lengthen the streak, success resets it.

        `next_poll(new_state)`, when given, says when to poll next; it is stored
        (feeds.next_poll_at) in the same statement. A success on a feed this process
        knows is one UPDATE; a failure reads the row first (the streak and the broken
        verdict are counted from the database). `listed_since`: every entry of the content
        just read is marked listed at or after this time (retention, store/retention.py)."""
        now = self._db.now()
        values: dict[str, Any] = {"last_polled_at": now, "last_status": status}
        if listed_since is not None:
            values["listed_since"] = listed_since
        known = self._by_id.get(feed_id)
        with self._pending_lock:  # this poll's outcome supersedes a noted 304
            self._pending.pop(feed_id, None)
        with self._db.write() as conn:
            if error is None:
                values.update(last_success_at=now, last_error=None, error_streak=0, broken_since=None, failing_since=None)
                if status != "not_modified":
                    values.update(etag=etag, last_modified=last_modified)
                if declared_interval is not None:
                    values["declared_interval"] = declared_interval
                if seeded is not None:
                    values["seeded"] = seeded
                if known is None:
                    row = conn.execute(select(feeds).where(feeds.c.id == feed_id)).mappings().one()
                    known = _feed_state(row, row["name"])
                state = replace(
                    known,
                    etag=values.get("etag", known.etag),
                    last_modified=values.get("last_modified", known.last_modified),
                    error_streak=0,
                    broken_since=None,
                    seeded=bool(values.get("seeded", known.seeded)),
                    declared_interval=values.get("declared_interval", known.declared_interval),
                )
            else:
                row = conn.execute(select(feeds).where(feeds.c.id == feed_id)).mappings().one()
                values.update(last_error=error[:2000], error_streak=row["error_streak"] + 1)
                since = (aware(row["failing_since"]) or now) if row["error_streak"] else now
                if not row["error_streak"]:
                    values["failing_since"] = now
                if broken_after is not None and row["broken_since"] is None and now - since >= broken_after:
                    values["broken_since"] = now
                if seeded is not None:
                    values["seeded"] = seeded
                state = _feed_state({**row, **values}, row["name"])
            if next_poll is not None:
                values["next_poll_at"] = next_poll(state)
            if self.owner is None:
                conn.execute(_UPDATE_FEED, {"feed_id_": feed_id, **values})
            else:
                conn.execute(_UPDATE_FEED_RELEASE, {"feed_id_": feed_id, "owner_": self.owner, "last_polled_by": self.owner, **values})
        return self._remember(state)

    def note_not_modified(self, feed_id: int, next_poll: NextPoll | None = None) -> FeedState | None:
        """A 304 from a feed that was healthy: only its timestamps move, so they are kept
        in memory and written in batches by flush_polls, without a database round trip
        per poll. Returns None when the poll changes more than that (the feed was
        failing or broken, or is not cached): then call record_poll.

        A process killed before the flush loses only these timestamps: the feed is
        polled a little early after the restart, nothing else is affected."""
        known = self._by_id.get(feed_id)
        if known is None or known.error_streak or known.broken_since is not None:
            return None
        now = self._db.now()
        values: dict[str, Any] = {"last_polled_at": now, "last_status": "not_modified", "last_success_at": now}
        if self.owner is not None:  # the claim is released when this is written
            values["last_polled_by"] = self.owner
        if next_poll is not None:
            values["next_poll_at"] = next_poll(known)
        with self._pending_lock:
            self._pending[feed_id] = values
        return known

    @property
    def pending_polls(self) -> int:
        """Feeds whose noted 304 is not written yet."""
        return len(self._pending)

    def flush_polls(self) -> int:
        """Write the bookkeeping noted by note_not_modified, in one transaction; returns
        the number of feeds written. On a database error the notes are kept for the next
        flush (unless a newer poll of the feed was noted meanwhile) and the error raised."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        # executemany needs the same keys in every row: group by the keys present.
        batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for feed_id, values in pending.items():
            batches.setdefault(tuple(values), []).append({"feed_id_": feed_id, "polled_at_": values["last_polled_at"], **values})
        statement = _FLUSH_POLL if self.owner is None else _FLUSH_POLL_RELEASE
        try:
            with self._db.write() as conn:
                for rows in batches.values():
                    if self.owner is not None:
                        rows = [{**row, "owner_": self.owner} for row in rows]
                    conn.execute(statement, rows)
        except Exception:
            with self._pending_lock:
                for feed_id, values in pending.items():
                    self._pending.setdefault(feed_id, values)
            raise
        return len(pending)

    def schedule_state(self) -> tuple[dict[str, datetime], set[str]]:
        """Stored next poll time per feed URL, and the URLs of feeds marked broken."""
        with self._db.read() as conn:
            rows = conn.execute(select(feeds.c.url, feeds.c.next_poll_at, feeds.c.broken_since)).all()
        next_polls = {url: aware(when) for url, when, _ in rows if when is not None}
        return next_polls, {url for url, _, broken in rows if broken is not None}

    def count_broken(self, feed_urls: list[str]) -> int:
        """Broken feeds among these; always touches the database (health checks rely on it)."""
        with self._db.read() as conn:
            if not feed_urls:
                conn.execute(select(1)).scalar()
                return 0
            query = select(func.count()).where(feeds.c.broken_since.is_not(None), feeds.c.url.in_(feed_urls))
            return int(conn.execute(query).scalar() or 0)


def _feed_state(row: Any, name: str) -> FeedState:
    return FeedState(
        id=row["id"],
        url=row["url"],
        name=name,
        etag=row["etag"],
        last_modified=row["last_modified"],
        error_streak=row["error_streak"] or 0,
        broken_since=aware(row["broken_since"]),
        seeded=bool(row["seeded"]),
        declared_interval=row["declared_interval"],
    )
