"""Every read and write of the monitor's database, as small named functions.

All SQL goes through SQLAlchemy Core with bound parameters; nothing is built
by string formatting. Methods are synchronous and short; async callers run
them with asyncio.to_thread.
"""

from __future__ import annotations

import contextlib
import threading
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Engine, and_, bindparam, create_engine, event, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from monitor.store.schema import (
    alerts,
    delivery_attempts,
    feeds,
    items,
    matches,
    migrate,
    service_state,
    subscribers,
    subscriptions,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@typing.overload
def _aware(value: datetime) -> datetime: ...
@typing.overload
def _aware(value: None) -> None: ...
def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


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
class NewItem:
    feed_id: int
    guid: str | None
    url: str | None
    canonical_url: str | None
    title: str
    published_at: datetime | None
    body: str
    body_source: str
    content_hash: str | None


@dataclass(frozen=True)
class FoundMention:
    entity_id: str
    entity_name: str
    mention: str
    start: int
    end: int


@dataclass(frozen=True)
class QueuedAlert:
    chat_id: str
    text_html: str
    text_plain: str


@dataclass(frozen=True)
class OutboxRow:
    id: int
    item_id: int
    chat_id: str
    text_html: str
    text_plain: str
    status: str
    attempts: int
    created_at: datetime
    published_at: datetime | None = None  # the item's, for publish-to-alert latency


class Store:
    """The database: SQLite (WAL) by default, PostgreSQL for scale-out."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        # SQLite has one writer at a time; a second one waits in SQLite's busy handler,
        # which sleeps in growing steps (up to 100 ms) instead of waking when the lock is
        # free. The poll writes of this process (several worker threads) therefore take
        # turns on a lock of our own, which hands over at once. PostgreSQL needs none.
        self._write_lock: typing.ContextManager = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        with self.engine.begin() as conn:
            migrate(conn)
        # Write-through cache of the feeds rows this Store has read or written (by id and
        # by URL): a poll of an unchanged feed then costs one UPDATE and no SELECT. Only
        # this process's view; a failure is still counted from the row itself.
        self._feeds_by_id: dict[int, FeedState] = {}
        self._feeds_by_url: dict[str, FeedState] = {}
        # Routine poll bookkeeping not yet written (see note_not_modified), by feed id.
        self._pending_polls: dict[int, dict] = {}
        self._pending_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    # -- feeds ---------------------------------------------------------------

    def ensure_feed(self, url: str, name: str) -> FeedState:
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(feeds).where(feeds.c.url == url)).mappings().first()
            if row is None:
                try:
                    conn.execute(feeds.insert().values(url=url, name=name, error_streak=0, seeded=False))
                except IntegrityError:  # another instance inserted it first
                    pass
                row = conn.execute(select(feeds).where(feeds.c.url == url)).mappings().one()
            elif name and row["name"] != name:
                conn.execute(update(feeds).where(feeds.c.id == row["id"]).values(name=name))
        return self._remember(_feed_state(row, name or row["name"]))

    def cached_feed(self, url: str, name: str) -> FeedState | None:
        """The feed's state as this Store last read or wrote it, without a database round
        trip; None when it is not known yet or was re-named (then call ensure_feed)."""
        state = self._feeds_by_url.get(url)
        if state is None or (name and state.name != name):
            return None
        return state

    def _remember(self, state: FeedState) -> FeedState:
        self._feeds_by_id[state.id] = state
        self._feeds_by_url[state.url] = state
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
        next_poll: Callable[[FeedState], datetime] | None = None,
    ) -> FeedState:
        """Remember the outcome of a poll; errors lengthen the streak, success resets it.

        `next_poll(new_state)`, when given, says when to poll next; it is stored
        (feeds.next_poll_at) in the same statement. A success on a feed this Store
        knows is one UPDATE; a failure reads the row first (the streak and the
        broken verdict are counted from the database).
        """
        now = utcnow()
        values: dict = {"last_polled_at": now, "last_status": status}
        known = self._feeds_by_id.get(feed_id)
        with self._pending_lock:  # this poll's outcome supersedes a noted 304
            self._pending_polls.pop(feed_id, None)
        with self._write_lock, self.engine.begin() as conn:
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
                since = (_aware(row["failing_since"]) or now) if row["error_streak"] else now
                if not row["error_streak"]:
                    values["failing_since"] = now
                if broken_after is not None and row["broken_since"] is None and now - since >= broken_after:
                    values["broken_since"] = now
                if seeded is not None:
                    values["seeded"] = seeded
                state = _feed_state({**row, **values}, row["name"])
            if next_poll is not None:
                values["next_poll_at"] = next_poll(state)
            # One prepared statement; the SET clause follows the keys of the parameters.
            conn.execute(_UPDATE_FEED, {"feed_id_": feed_id, **values})
        return self._remember(state)

    def note_not_modified(self, feed_id: int, next_poll: Callable[[FeedState], datetime] | None = None) -> FeedState | None:
        """A 304 from a feed that was healthy: only its timestamps move, so they are kept
        in memory and written in batches by flush_polls, without a database round trip
        per poll. Returns None when the poll changes more than that (the feed was
        failing or broken, or is not cached): then call record_poll.

        A process killed before the flush loses only these timestamps: the feed is
        polled a little early after the restart, nothing else is affected."""
        known = self._feeds_by_id.get(feed_id)
        if known is None or known.error_streak or known.broken_since is not None:
            return None
        now = utcnow()
        values = {"last_polled_at": now, "last_status": "not_modified", "last_success_at": now}
        if next_poll is not None:
            values["next_poll_at"] = next_poll(known)
        with self._pending_lock:
            self._pending_polls[feed_id] = values
        return known

    @property
    def pending_polls(self) -> int:
        return len(self._pending_polls)

    def flush_polls(self) -> int:
        """Write the bookkeeping noted by note_not_modified, in one transaction; returns
        the number of feeds written. On a database error the notes are kept for the next
        flush (unless a newer poll of the feed was noted meanwhile) and the error raised."""
        with self._pending_lock:
            pending, self._pending_polls = self._pending_polls, {}
        if not pending:
            return 0
        # executemany needs the same keys in every row: group by the keys present.
        batches: dict[tuple[str, ...], list[dict]] = {}
        for feed_id, values in pending.items():
            batches.setdefault(tuple(values), []).append({"feed_id_": feed_id, "polled_at_": values["last_polled_at"], **values})
        try:
            with self._write_lock, self.engine.begin() as conn:
                for rows in batches.values():
                    conn.execute(_FLUSH_POLL, rows)
        except Exception:
            with self._pending_lock:
                for feed_id, values in pending.items():
                    self._pending_polls.setdefault(feed_id, values)
            raise
        return len(pending)

    def save_next_poll(self, feed_id: int, when: datetime) -> None:
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(update(feeds).where(feeds.c.id == feed_id).values(next_poll_at=when))

    def schedule_state(self) -> tuple[dict[str, datetime], set[str]]:
        """Stored next poll time per feed URL, and the URLs of feeds marked broken."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(feeds.c.url, feeds.c.next_poll_at, feeds.c.broken_since)).all()
        next_polls = {url: _aware(when) for url, when, _ in rows if when is not None}
        return next_polls, {url for url, _, broken in rows if broken is not None}

    def count_broken(self, feed_urls: list[str]) -> int:
        """Broken feeds among these; always touches the database (health checks rely on it)."""
        with self.engine.connect() as conn:
            if not feed_urls:
                conn.execute(select(1)).scalar()
                return 0
            query = select(func.count()).where(feeds.c.broken_since.is_not(None), feeds.c.url.in_(feed_urls))
            return int(conn.execute(query).scalar() or 0)

    # -- items ---------------------------------------------------------------

    def is_known(self, feed_id: int, guid: str | None, canonical_url: str | None, content_hash: str | None) -> bool:
        """Same GUID in this feed, same canonical URL, or same content anywhere."""
        with self.engine.connect() as conn:
            return _known(conn, feed_id, guid, canonical_url, content_hash)

    def known_entries(self, feed_id: int, keys: Sequence[tuple[str | None, str | None]]) -> list[bool]:
        """is_known (without the content hash) for many (guid, canonical_url) pairs of one
        feed at once: one SELECT ... IN per chunk instead of a query (and, for async
        callers, a thread hop) per entry. Same rule: the GUID within this feed, the
        canonical URL anywhere."""
        guids = list({g for g, _ in keys if g})
        urls = list({u for _, u in keys if u})
        known_guids: set[str] = set()
        known_urls: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(guids), _IN_CHUNK):
                chunk = guids[start : start + _IN_CHUNK]
                known_guids.update(
                    r[0] for r in conn.execute(select(items.c.guid).where(items.c.feed_id == feed_id, items.c.guid.in_(chunk)))
                )
            for start in range(0, len(urls), _IN_CHUNK):
                chunk = urls[start : start + _IN_CHUNK]
                known_urls.update(r[0] for r in conn.execute(select(items.c.canonical_url).where(items.c.canonical_url.in_(chunk))))
        return [bool(g and g in known_guids) or bool(u and u in known_urls) for g, u in keys]

    def store_items(
        self, batch: Sequence[tuple[NewItem, Sequence[FoundMention], Sequence[QueuedAlert]]]
    ) -> tuple[list[int | None | Exception], Exception | None]:
        """store_item for each of a batch, in order, still one transaction per item (an item
        is stored with its mentions and alerts, or not at all), but in one call: for an async
        caller one thread hop per feed instead of one per item.

        Returns the result per item processed (the new id, None when known, or the
        exception of an item that failed on its own) and the database error (DBAPIError)
        that stopped the batch, if any; the items after it are not attempted."""
        results: list[int | None | Exception] = []
        try:
            conn_cm = self.engine.connect()
            conn = conn_cm.__enter__()
        except DBAPIError as exc:
            return results, exc
        try:
            for item, mentions, queued in batch:
                try:
                    results.append(self._store_item(conn, item, mentions, queued))
                except DBAPIError as exc:
                    return results, exc
                except Exception as exc:  # noqa: BLE001 - one bad item must not stop the others
                    results.append(exc)
            return results, None
        finally:
            conn_cm.__exit__(None, None, None)

    def store_item(
        self, item: NewItem, mentions: Sequence[FoundMention], queued: Sequence[QueuedAlert]
    ) -> int | None:
        """Store an item, its mentions and its alerts in one transaction.

        Returns the new item id, or None when the item turned out to be known
        (a concurrent poll stored it first): then nothing is written.
        """
        with self.engine.connect() as conn:
            return self._store_item(conn, item, mentions, queued)

    def _store_item(
        self, conn, item: NewItem, mentions: Sequence[FoundMention], queued: Sequence[QueuedAlert]
    ) -> int | None:
        now = utcnow()
        try:
            with self._write_lock, conn.begin():
                if _known(conn, item.feed_id, item.guid, item.canonical_url, item.content_hash):
                    return None
                # Constant statements with bound values: no expression building per item.
                item_id = conn.execute(
                    _INSERT_ITEM,
                    dict(
                        feed_id=item.feed_id,
                        guid=item.guid,
                        url=item.url,
                        canonical_url=item.canonical_url,
                        title=item.title,
                        published_at=item.published_at,
                        fetched_at=now,
                        body=item.body,
                        body_source=item.body_source,
                        content_hash=item.content_hash,
                    ),
                ).inserted_primary_key[0]
                if mentions:
                    conn.execute(
                        _INSERT_MATCH,
                        [
                            dict(
                                item_id=item_id,
                                entity_id=m.entity_id,
                                entity_name=m.entity_name,
                                mention=m.mention[:500],
                                mention_start=m.start,
                                mention_end=m.end,
                                matched_at=now,
                            )
                            for m in mentions
                        ],
                    )
                if queued:
                    conn.execute(
                        _INSERT_ALERT,
                        [
                            dict(
                                item_id=item_id,
                                chat_id=a.chat_id,
                                text_html=a.text_html,
                                text_plain=a.text_plain,
                                status="queued",
                                attempts=0,
                                created_at=now,
                                next_attempt_at=now,
                            )
                            for a in queued
                        ],
                    )
                return int(item_id)
        except IntegrityError:
            return None

    # -- outbox --------------------------------------------------------------

    def due_alerts(self, limit: int = 100, chat_ids: Iterable[str] | None = None) -> list[OutboxRow]:
        """Queued alerts whose time has come, oldest first."""
        query = (
            select(alerts, items.c.published_at)
            .join(items, items.c.id == alerts.c.item_id)
            .where(alerts.c.status == "queued", alerts.c.next_attempt_at <= utcnow())
            .order_by(alerts.c.id)
            .limit(limit)
        )
        if chat_ids is not None:
            query = query.where(alerts.c.chat_id.in_(list(chat_ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_outbox_row(r) for r in rows]

    def mark_sent(self, alert_id: int, message_id: int | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(status="sent", sent_at=utcnow(), telegram_message_id=message_id, error=None)
            )

    def mark_failed(self, alert_id: int, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(status="failed", error=reason[:2000]))

    def retry_later(self, alert_id: int, delay_seconds: float, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(
                    status="queued",
                    attempts=alerts.c.attempts + 1,
                    next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
                    error=reason[:2000],
                )
            )

    def queue_depth(self) -> tuple[int, datetime | None]:
        with self.engine.connect() as conn:
            count, oldest = conn.execute(
                select(func.count(), func.min(alerts.c.created_at)).where(alerts.c.status.in_(("queued", "sending")))
            ).one()
        return int(count), _aware(oldest)

    def subscribers_for(self, entity_ids: Iterable[str]) -> list[str]:
        """Chat ids of active subscribers following any of these entities (or all)."""
        wanted = list(entity_ids)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(subscribers.c.chat_id)
                .where(
                    subscribers.c.active.is_(True),
                    or_(
                        subscribers.c.all_entities.is_(True),
                        select(subscriptions.c.entity_id)
                        .where(subscriptions.c.chat_id == subscribers.c.chat_id, subscriptions.c.entity_id.in_(wanted))
                        .exists(),
                    ),
                )
                .order_by(subscribers.c.chat_id)
            ).all()
        return [r[0] for r in rows]

    # -- service state -------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(service_state.c.value).where(service_state.c.key == key)).scalar()

    def set_state(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(update(service_state).where(service_state.c.key == key).values(value=value))
            if changed.rowcount == 0:
                conn.execute(service_state.insert().values(key=key, value=value))


    # -- delivery bookkeeping (monitor.notify.outbox) ------------------
    #
    # An alert goes queued -> sending (committed, with an open delivery_attempts
    # row, BEFORE the Bot API call) -> sent | queued (retry) | failed | unknown.
    # Outcomes are written only while the row is 'sending' (or 'unknown', which
    # a restarted instance may have stamped on a send another live instance is
    # still finishing), so a stale writer can never resurrect a finished alert.

    def due_outbox(self, limit: int = 200, exclude_chats: Iterable[str] = ()) -> list[OutboxRow]:
        """Queued alerts for Telegram (not the console) whose time has come, oldest first."""
        excluded = list(exclude_chats)
        query = (
            select(alerts, items.c.published_at)
            .join(items, items.c.id == alerts.c.item_id)
            .where(alerts.c.status == "queued", alerts.c.next_attempt_at <= utcnow(), alerts.c.chat_id.not_in(excluded))
            .order_by(alerts.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_outbox_row(r) for r in rows]

    def next_outbox_due(self, exclude_chats: Iterable[str] = ()) -> datetime | None:
        """When the earliest queued alert for Telegram (not the console) becomes due."""
        query = select(func.min(alerts.c.next_attempt_at)).where(
            alerts.c.status == "queued", alerts.c.chat_id.not_in(list(exclude_chats))
        )
        with self.engine.connect() as conn:
            return _aware(conn.execute(query).scalar())

    def claim_alert(self, alert_id: int) -> int | None:
        """queued -> sending plus an open attempt record, in one transaction.

        Returns the attempt id, or None when the alert is no longer queued
        (another sender claimed it first)."""
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status == "queued")
                .values(status="sending", attempts=alerts.c.attempts + 1)
            ).rowcount
            if claimed != 1:
                return None
            key = conn.execute(delivery_attempts.insert().values(alert_id=alert_id, started_at=utcnow())).inserted_primary_key
            assert key is not None  # an INSERT always has one
            return int(key[0])

    def _finish(self, alert_id: int, attempt_id: int, outcome: str, detail: str | None, **values) -> bool:
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status.in_(("sending", "unknown")))
                .values(**values)
            ).rowcount
            conn.execute(
                update(delivery_attempts)
                .where(delivery_attempts.c.id == attempt_id)
                .values(finished_at=utcnow(), outcome=outcome, detail=detail[:2000] if detail else None)
            )
        return changed == 1

    def finish_sent(self, alert_id: int, attempt_id: int, message_id: int | None, note: str | None = None) -> bool:
        return self._finish(
            alert_id, attempt_id, "sent", note,
            status="sent", sent_at=utcnow(), telegram_message_id=message_id, error=note,
        )

    def finish_retry(self, alert_id: int, attempt_id: int, delay_seconds: float, reason: str) -> bool:
        return self._finish(
            alert_id, attempt_id, "retry", reason,
            status="queued", next_attempt_at=utcnow() + timedelta(seconds=max(delay_seconds, 0.0)), error=reason[:2000],
        )

    def finish_failed(self, alert_id: int, attempt_id: int, reason: str) -> bool:
        return self._finish(alert_id, attempt_id, "failed", reason, status="failed", error=reason[:2000])

    def finish_unknown(self, alert_id: int, attempt_id: int, reason: str) -> bool:
        return self._finish(alert_id, attempt_id, "unknown", reason, status="unknown", error=reason[:2000])

    def fail_queued_for_chat(self, chat_id: str, reason: str) -> int:
        """Every still-queued alert to a chat that can no longer receive anything -> failed."""
        with self.engine.begin() as conn:
            return conn.execute(
                update(alerts)
                .where(alerts.c.chat_id == chat_id, alerts.c.status == "queued")
                .values(status="failed", error=reason[:2000])
            ).rowcount

    def recover_in_flight(self, reason: str) -> list[int]:
        """Alerts left 'sending' by a stopped process -> 'unknown' (never resent); returns their ids."""
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(alerts.c.id).where(alerts.c.status == "sending")).all()]
            if ids:
                conn.execute(update(alerts).where(alerts.c.id.in_(ids)).values(status="unknown", error=reason[:2000]))
                conn.execute(
                    update(delivery_attempts)
                    .where(delivery_attempts.c.alert_id.in_(ids), delivery_attempts.c.outcome.is_(None))
                    .values(outcome="unknown", finished_at=utcnow(), detail=reason[:2000])
                )
        return ids

    def alert_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status))}

    # -- subscribers (monitor.notify.commands) --------------------------------------

    def register_subscriber(self, chat_id: str, username: str | None) -> bool:
        """Create or re-activate a subscriber (a user who blocked and came back). True if new."""
        with self.engine.begin() as conn:
            row = conn.execute(select(subscribers.c.chat_id).where(subscribers.c.chat_id == chat_id)).first()
            if row is None:
                try:
                    conn.execute(
                        subscribers.insert().values(
                            chat_id=chat_id, username=username, active=True, all_entities=False, created_at=utcnow()
                        )
                    )
                    return True
                except IntegrityError:
                    pass
            conn.execute(
                update(subscribers)
                .where(subscribers.c.chat_id == chat_id)
                .values(active=True, deactivated_reason=None, **({"username": username} if username else {}))
            )
            return False

    def subscribe(self, chat_id: str, entity_ids: Iterable[str] = (), *, all_entities: bool = False) -> None:
        with self.engine.begin() as conn:
            if all_entities:
                conn.execute(update(subscribers).where(subscribers.c.chat_id == chat_id).values(all_entities=True))
            have = {r[0] for r in conn.execute(select(subscriptions.c.entity_id).where(subscriptions.c.chat_id == chat_id))}
            new = [e for e in dict.fromkeys(entity_ids) if e not in have]
            if new:
                conn.execute(subscriptions.insert(), [{"chat_id": chat_id, "entity_id": e} for e in new])

    def unsubscribe(self, chat_id: str, entity_ids: Iterable[str] | None = None) -> None:
        """Stop following these entities; None: stop following everything."""
        with self.engine.begin() as conn:
            query = subscriptions.delete().where(subscriptions.c.chat_id == chat_id)
            if entity_ids is None:
                conn.execute(update(subscribers).where(subscribers.c.chat_id == chat_id).values(all_entities=False))
            else:
                query = query.where(subscriptions.c.entity_id.in_(list(entity_ids)))
            conn.execute(query)

    def subscription(self, chat_id: str) -> tuple[bool, bool, list[str]] | None:
        """(active, all entities, followed entity ids) of a subscriber, or None if unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(subscribers.c.active, subscribers.c.all_entities).where(subscribers.c.chat_id == chat_id)
            ).first()
            if row is None:
                return None
            followed = [
                r[0]
                for r in conn.execute(
                    select(subscriptions.c.entity_id).where(subscriptions.c.chat_id == chat_id).order_by(subscriptions.c.entity_id)
                )
            ]
        return bool(row[0]), bool(row[1]), followed

    def deactivate_subscriber(self, chat_id: str, reason: str) -> bool:
        """A user who blocked the bot gets no more alerts (until they /start again)."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.chat_id == chat_id, subscribers.c.active.is_(True))
                    .values(active=False, deactivated_reason=reason[:2000])
                ).rowcount
                == 1
            )


def database_problem(exc: Exception) -> str:
    """One line for a database failure: the driver's message, without the SQL or parameters."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return f"database error: {message}"


# Values per IN (...) of a batched lookup; well under SQLite's bound-parameter limit.
_IN_CHUNK = 500

_UPDATE_FEED = update(feeds).where(feeds.c.id == bindparam("feed_id_"))
# A batched 304 never overwrites a poll recorded after it (record_poll writes at once,
# a flush may run later in another thread).
_FLUSH_POLL = update(feeds).where(
    feeds.c.id == bindparam("feed_id_"),
    or_(feeds.c.last_polled_at.is_(None), feeds.c.last_polled_at <= bindparam("polled_at_", type_=feeds.c.last_polled_at.type)),
)


_INSERT_ITEM = items.insert()
_INSERT_MATCH = matches.insert()
_INSERT_ALERT = alerts.insert()
_KNOWN_QUERIES: dict[tuple[bool, bool, bool], typing.Any] = {}


def _known_query(by_guid: bool, by_url: bool, by_hash: bool):
    """The is-known SELECT for one combination of identities, built once (bound values)."""
    key = (by_guid, by_url, by_hash)
    query = _KNOWN_QUERIES.get(key)
    if query is None:
        conditions = []
        if by_guid:
            conditions.append(and_(items.c.feed_id == bindparam("feed_id_"), items.c.guid == bindparam("guid_")))
        if by_url:
            conditions.append(items.c.canonical_url == bindparam("canonical_"))
        if by_hash:
            conditions.append(items.c.content_hash == bindparam("hash_"))
        query = _KNOWN_QUERIES[key] = select(items.c.id).where(or_(*conditions)).limit(1)
    return query


def _known(conn, feed_id: int, guid: str | None, canonical_url: str | None, content_hash: str | None) -> bool:
    if not (guid or canonical_url or content_hash):
        return False
    params: dict = {}
    if guid:
        params.update(feed_id_=feed_id, guid_=guid)
    if canonical_url:
        params["canonical_"] = canonical_url
    if content_hash:
        params["hash_"] = content_hash
    query = _known_query(bool(guid), bool(canonical_url), bool(content_hash))
    return conn.execute(query, params).first() is not None


def _outbox_row(r: typing.Any) -> OutboxRow:
    return OutboxRow(
        r["id"], r["item_id"], r["chat_id"], r["text_html"], r["text_plain"], r["status"], r["attempts"],
        _aware(r["created_at"]), _aware(r["published_at"]),
    )


def _feed_state(row, name: str) -> FeedState:
    return FeedState(
        id=row["id"],
        url=row["url"],
        name=name,
        etag=row["etag"],
        last_modified=row["last_modified"],
        error_streak=row["error_streak"] or 0,
        broken_since=_aware(row["broken_since"]),
        seeded=bool(row["seeded"]),
        declared_interval=row["declared_interval"],
    )


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
