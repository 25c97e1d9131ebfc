"""Items, their matches and their alerts: what is new (dedup) and storing it, with its
mentions and queued alerts, in one transaction per item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError

from monitor.store.database import Database, aware, inserted_id
from monitor.store.schema import alerts, items, matches
from monitor.store.stories import StoryPlacer, StoryRepository

__all__ = ["AlertsForStored", "FoundMention", "ItemRepository", "NewItem", "QueuedAlert", "StoreResult"]


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
    lang: str | None = None  # the article's language when known (stories)


@dataclass(frozen=True)
class FoundMention:
    entity_id: str
    entity_name: str
    mention: str
    start: int
    end: int
    alias: str = ""  # the watchlist alias that matched (Mention.alias)
    rule: str = ""  # how it was found (Mention.rule): reader feedback is traced to both


@dataclass(frozen=True)
class QueuedAlert:
    chat_id: str
    text_html: str
    text_plain: str
    # "queued": to be sent; "digest": collected for the chat's next digest (v4).
    status: str = "queued"
    silent: bool = False  # sent with disable_notification
    not_before: datetime | None = None  # held until then (quiet hours); None: at once
    feedback_entity: str | None = None  # a subscriber's alert: the entity its feedback buttons are about


def _alert_row(alert: QueuedAlert, item_id: int, now: datetime) -> dict[str, Any]:
    """The outbox row of an alert stored with its item."""
    return {
        "item_id": item_id,
        "chat_id": alert.chat_id,
        "text_html": alert.text_html,
        "text_plain": alert.text_plain,
        "status": alert.status,
        "silent": alert.silent,
        "feedback_entity": alert.feedback_entity,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": max(alert.not_before, now) if alert.not_before is not None else now,
    }


# Per item of a batch: the new item id, None when it was known, or the exception of an
# item that failed on its own.
StoreResult = int | None | Exception

# Given the ids of a batch stored together (None: that item was known already), the
# alerts to queue with them, each attached to one of the stored items.
AlertsForStored = Callable[[list[int | None]], Sequence[tuple[int, QueuedAlert]]]

# A batch stored together meets a concurrent writer's item (unique GUID): tried again
# this often, each time in a fresh transaction that sees the other item as known.
_TOGETHER_ATTEMPTS = 3

# Values per IN (...) of a batched lookup; well under SQLite's bound-parameter limit.
_IN_CHUNK = 500
_INSERT_ITEM = items.insert()
_INSERT_MATCH = matches.insert()
_INSERT_ALERT = alerts.insert()


class ItemRepository:
    """Dedup rule: an item is known by the same GUID in its feed, the same canonical
    URL anywhere, or the same content hash anywhere.

    Stories: given a `StoryPlacer`, an item with mentions is put into a story in its own
    transaction (under the story lock, taken before the item is inserted), and of its
    alerts only those to chats without a message of that story yet are queued: the
    first article of a story alerts the channel and its subscribers, a later one
    reaches only a chat it concerns that has nothing of the story yet (a subscriber
    of an entity the story gained). A joining article queues nothing else; the
    story's `revision` tells that its messages are out of date."""

    def __init__(self, database: Database, stories: StoryRepository | None = None):
        self._db = database
        self._stories = stories or StoryRepository(database)
        self._known_queries: dict[tuple[bool, bool, bool], Any] = {}

    def known_entries(
        self, feed_id: int, keys: Sequence[tuple[str | None, str | None]], *, listed_since: datetime | None = None
    ) -> list[bool]:
        """Whether each of many (guid, canonical_url) pairs of one feed is known (the dedup
        rule without the content hash, which needs the page's text): one SELECT ... IN
        per chunk instead of a query (and, for async callers, a thread hop) per entry.

        With `listed_since`, the known items whose last_listed_at is older are marked listed
        now (retention keeps the identities a feed still lists); the write happens only
        when one is that old, so an unchanged feed polled every few minutes costs a write
        at most once per item and hour (the caller's choice of `listed_since`)."""
        guids = list({g for g, _ in keys if g})
        urls = list({u for _, u in keys if u})
        known_guids: set[str] = set()
        known_urls: set[str] = set()
        stale: set[int] = set()
        with self._db.read() as conn:
            for start in range(0, len(guids), _IN_CHUNK):
                chunk = guids[start : start + _IN_CHUNK]
                query = select(items.c.guid, items.c.id, items.c.last_listed_at).where(items.c.feed_id == feed_id, items.c.guid.in_(chunk))
                for guid, item_id, listed in conn.execute(query):
                    known_guids.add(guid)
                    if listed_since is not None and (listed is None or aware(listed) < listed_since):
                        stale.add(item_id)
            for start in range(0, len(urls), _IN_CHUNK):
                chunk = urls[start : start + _IN_CHUNK]
                query = select(items.c.canonical_url, items.c.id, items.c.last_listed_at).where(items.c.canonical_url.in_(chunk))
                for url, item_id, listed in conn.execute(query):
                    known_urls.add(url)
                    if listed_since is not None and (listed is None or aware(listed) < listed_since):
                        stale.add(item_id)
        if stale:
            self._mark_listed(sorted(stale))
        return [bool(g and g in known_guids) or bool(u and u in known_urls) for g, u in keys]

    def _mark_listed(self, item_ids: list[int]) -> None:
        now = self._db.now()
        with self._db.write() as conn:
            for start in range(0, len(item_ids), _IN_CHUNK):
                conn.execute(update(items).where(items.c.id.in_(item_ids[start : start + _IN_CHUNK])).values(last_listed_at=now))

    def add(
        self, item: NewItem, mentions: Sequence[FoundMention], queued: Sequence[QueuedAlert], placer: StoryPlacer | None = None
    ) -> int | None:
        """Store an item, its mentions, its story (with a placer) and its alerts in one transaction.

        Returns the new item id, or None when the item turned out to be known
        (a concurrent poll stored it first): then nothing is written."""
        with self._db.read() as conn:
            return self._add(conn, item, mentions, queued, placer)

    def add_many(
        self,
        batch: Sequence[tuple[NewItem, Sequence[FoundMention], Sequence[QueuedAlert]]],
        placer: StoryPlacer | None = None,
    ) -> tuple[list[StoreResult], DBAPIError | None]:
        """add() for each of a batch, in order, still one transaction per item, but in one
        call: for an async caller one thread hop per feed instead of one per item.

        Returns the result per item processed and the database error that stopped the
        batch, if any; the items after it are not attempted."""
        results: list[StoreResult] = []
        try:
            conn_cm = self._db.read()
            conn = conn_cm.__enter__()
        except DBAPIError as exc:
            return results, exc
        try:
            for item, mentions, queued in batch:
                try:
                    results.append(self._add(conn, item, mentions, queued, placer))
                except DBAPIError as exc:
                    return results, exc
                except Exception as exc:  # noqa: BLE001 - one bad item must not stop the others
                    results.append(exc)
            return results, None
        finally:
            conn_cm.__exit__(None, None, None)

    def add_identities(self, batch: Sequence[NewItem]) -> int:
        """Store items by identity only (no mentions, no alerts: a first poll's old
        entries) in ONE statement: those the database knows already (same GUID in the
        feed, same canonical URL) are skipped by its unique indexes. Returns how many
        were stored. Hundreds of rows cost one round trip, not two per row."""
        if not batch:
            return 0
        now = self._db.now()
        rows = [{**vars(item), "fetched_at": now, "last_listed_at": now} for item in batch]
        dialect_insert = postgresql_insert if self._db.engine.dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(items).on_conflict_do_nothing().returning(items.c.id)
        with self._db.write() as conn:
            return len(conn.execute(statement, rows).all())

    def add_together(self, batch: Sequence[tuple[NewItem, Sequence[FoundMention]]], alerts_for: AlertsForStored) -> list[int | None]:
        """Store a batch of items with their mentions and the alerts `alerts_for` writes
        from their ids, all in ONE transaction: those alerts exist iff the items they
        list were stored (a burst summary). Known items are skipped (None).

        A database error rolls back the whole batch and is raised; so is an exception
        of `alerts_for`."""
        for attempt in range(1, _TOGETHER_ATTEMPTS + 1):
            try:
                with self._db.write() as conn:
                    ids = [self._insert(conn, item, mentions, ()) for item, mentions in batch]
                    queued = alerts_for(ids)
                    if queued:
                        now = self._db.now()
                        conn.execute(_INSERT_ALERT, [_alert_row(a, item_id, now) for item_id, a in queued])
                    return ids
            except IntegrityError:
                if attempt == _TOGETHER_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _add(
        self,
        conn: Connection,
        item: NewItem,
        mentions: Sequence[FoundMention],
        queued: Sequence[QueuedAlert],
        placer: StoryPlacer | None = None,
    ) -> int | None:
        try:
            if placer is None or not mentions:
                with self._db.write(conn):
                    return self._insert(conn, item, mentions, queued)
            # Placer first, then the write lock: the order every story write takes them.
            with placer.turn(), self._db.write(conn):
                return self._insert(conn, item, mentions, queued, placer)
        except IntegrityError:
            return None

    def _insert(
        self,
        conn: Connection,
        item: NewItem,
        mentions: Sequence[FoundMention],
        queued: Sequence[QueuedAlert],
        placer: StoryPlacer | None = None,
    ) -> int | None:
        """The writes of one item inside the caller's transaction; None when it is known."""
        now = self._db.now()
        if placer is not None and mentions:
            # Before the item is inserted: items placed in stories get their ids in the
            # order they are placed, which is how other processes catch up.
            self._stories.lock(conn)
        if self._known(conn, item.feed_id, item.guid, item.canonical_url, item.content_hash):
            return None
        # Constant statements with bound values: no expression building per item. The
        # dataclasses' fields are the tables' columns.
        item_id = inserted_id(conn.execute(_INSERT_ITEM, {**vars(item), "fetched_at": now, "last_listed_at": now}))
        if mentions:
            conn.execute(
                _INSERT_MATCH,
                [
                    {
                        "item_id": item_id,
                        "entity_id": m.entity_id,
                        "entity_name": m.entity_name,
                        "mention": m.mention[:500],
                        "mention_start": m.start,
                        "mention_end": m.end,
                        "matched_at": now,
                        "alias": m.alias[:500] or None,
                        "rule": m.rule[:500] or None,
                    }
                    for m in mentions
                ],
            )
        if placer is not None and mentions:
            placement = placer.place(conn, item_id)
            self._stories.record(conn, placement)
            if not placement.new_story and queued:
                # One message per chat per story (see the class's docstring).
                have = self._stories.chats_with_message(conn, placement.story_id)
                queued = [a for a in queued if a.chat_id not in have]
            placer.alerted(placement, [a.chat_id for a in queued])
        if queued:
            conn.execute(_INSERT_ALERT, [_alert_row(a, item_id, now) for a in queued])
        return item_id

    def _known(self, conn: Connection, feed_id: int, guid: str | None, canonical_url: str | None, content_hash: str | None) -> bool:
        if not (guid or canonical_url or content_hash):
            return False
        params: dict[str, Any] = {}
        if guid:
            params.update(feed_id_=feed_id, guid_=guid)
        if canonical_url:
            params["canonical_"] = canonical_url
        if content_hash:
            params["hash_"] = content_hash
        return conn.execute(self._known_query(bool(guid), bool(canonical_url), bool(content_hash)), params).first() is not None

    def _known_query(self, by_guid: bool, by_url: bool, by_hash: bool) -> Any:
        """The is-known SELECT for one combination of identities, built once (bound values)."""
        key = (by_guid, by_url, by_hash)
        query = self._known_queries.get(key)
        if query is None:
            conditions = []
            if by_guid:
                conditions.append(and_(items.c.feed_id == bindparam("feed_id_"), items.c.guid == bindparam("guid_")))
            if by_url:
                conditions.append(items.c.canonical_url == bindparam("canonical_"))
            if by_hash:
                conditions.append(items.c.content_hash == bindparam("hash_"))
            query = self._known_queries[key] = select(items.c.id).where(or_(*conditions)).limit(1)
        return query
